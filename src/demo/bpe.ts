// A byte-level BPE trainer for the demo tokenizer: learns merges from a corpus with the same
// pre-tokenization as the ByteLevel pre-tokenizer of Hugging Face tokenizers — GPT-2's regex, or
// with useRegex = false the whole text between special tokens as one piece, so merges may span
// words (the demo's fixed prompt phrases become a few tokens) — so the merges drop into
// tokenizer.json and @huggingface/transformers applies them unchanged. Merges never touch
// digits: numbers stay one token per digit, which a tiny model needs to learn column arithmetic.

import { bytesToUnicode } from './tokenizer';

/** GPT-2's pre-tokenization pattern (the ByteLevel pre-tokenizer with use_regex). */
const PRE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Splits text into pre-tokens, each written in GPT-2's byte↔unicode alphabet. */
export function preTokenize(text: string, useRegex = true): string[] {
  const table = bytesToUnicode();
  const enc = new TextEncoder();
  return (useRegex ? (text.match(PRE) ?? []) : [text]).map((w) => Array.from(enc.encode(w), (b) => table[b]).join(''));
}

const DIGITS = new Set('0123456789');
const hasDigit = (s: string) => [...s].some((c) => DIGITS.has(c));

/** Joins every adjacent (a, b) in each word's parts. */
function applyMerge(words: { parts: string[] }[], merge: string): void {
  const [a, b] = merge.split(' ');
  for (const w of words) {
    const out: string[] = [];
    for (let i = 0; i < w.parts.length; i++) {
      if (i + 1 < w.parts.length && w.parts[i] === a && w.parts[i + 1] === b) {
        out.push(a + b);
        i++;
      } else out.push(w.parts[i]);
    }
    w.parts = out;
  }
}

/**
 * Learns up to `count` merges (most frequent adjacent pair first, ties broken by the pair's text so
 * the result is deterministic). Returns them in order, as "left right" strings. `start`: merges a
 * tokenizer already has, applied first (in order); only new merges are learnt and returned.
 */
export function trainBpe(
  corpus: string[],
  count: number,
  o: { minFrequency?: number; useRegex?: boolean; start?: string[] } = {},
): string[] {
  const minFrequency = o.minFrequency ?? 2;
  const freq = new Map<string, number>();
  for (const text of corpus) for (const w of preTokenize(text, o.useRegex ?? true)) freq.set(w, (freq.get(w) ?? 0) + 1);
  const words = [...freq].map(([w, n]) => ({ parts: [...w], n }));
  for (const m of o.start ?? []) applyMerge(words, m);
  const merges: string[] = [];
  while (merges.length < count) {
    const pairs = new Map<string, number>();
    for (const { parts, n } of words) {
      for (let i = 0; i + 1 < parts.length; i++) {
        if (hasDigit(parts[i]) || hasDigit(parts[i + 1])) continue;
        const k = parts[i] + ' ' + parts[i + 1];
        pairs.set(k, (pairs.get(k) ?? 0) + n);
      }
    }
    let best = '',
      bestN = 0;
    for (const [k, n] of pairs)
      if (n > bestN || (n === bestN && k < best)) {
        best = k;
        bestN = n;
      }
    if (bestN < minFrequency) break;
    merges.push(best);
    applyMerge(words, best);
  }
  return merges;
}
