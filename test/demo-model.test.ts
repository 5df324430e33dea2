// The demo model's parts without a GPU: the BPE trainer (merges that Hugging Face's tokenizer code
// applies unchanged, digits never merged), the thought-style corpus, and SFT packing.

import { describe, expect, it } from 'vitest';
import { trainBpe } from '../src/demo/bpe';
import { sftRows, thoughtCompletion } from '../src/demo/corpus';
import { memorySource } from '../src/demo/init';
import { makeSplits } from '../src/demo/tasks';
import { byteTokenizerFiles, IM_END } from '../src/demo/tokenizer';
import { loadTokenizer } from '../src/model/tokenizer';
import { packSequences, scoredPositions, tokenizeSft } from '../src/train/data';
import { GENERIC, renderPrompt } from '../src/tpo/prompts';

const tasks = makeSplits(3, { train: 300, pool: 10, heldOut: 10 }).train;
const rows = sftRows(tasks, 3);
const corpus = rows.flatMap((r) => [`user\n${r.prompt[0].content}`, `assistant\n${r.completion[0].content}`]);

describe('demo tokenizer: BPE merges learned from the corpus', () => {
  it('round-trips through @huggingface/transformers, compresses the fixed prompt, keeps digits single', async () => {
    const merges = trainBpe(corpus, 200, { useRegex: false });
    expect(merges.length).toBe(200);
    for (const m of merges) expect(m).not.toMatch(/\d/);
    const tok = (await loadTokenizer(memorySource(byteTokenizerFiles(merges, false))))!;
    const text = renderPrompt(GENERIC, 'What is 482 + 39?');
    const ids = tok.encode(text);
    expect(tok.decode(ids)).toBe(text);
    const bytes = new TextEncoder().encode(text).length;
    expect(ids.length).toBeLessThan(bytes / 4); // the fixed prompt phrases became long tokens
    expect(tok.decode([])).toBe(''); // a generation that stopped at once (transformers.js would throw)
    const digits = tok.encode('482');
    expect(digits.map((i) => tok.decode([i]))).toEqual(['4', '8', '2']);
    // the chat template wraps a turn in ChatML, ending the assistant turn with <|im_end|>
    const chat = tok.applyChatTemplate([{ role: 'user', content: 'hi' }]);
    expect(chat.filter((i) => i === 257)).toHaveLength(2); // <|im_start|> user, <|im_start|> assistant
    expect(tok.decode(chat)).toMatch(/^user\nhi\nassistant\n$/); // specials are not decoded
    // Training sees the exact prompt ids that generation ends with, even though this corpus (header
    // and content as one piece) learned merges that span "assistant\n" and the completion.
    expect(merges.some((m) => m.replace(' ', '').includes('Ċ') && /assistantĊ./.test(m.replace(' ', '')))).toBe(true);
    for (const r of rows.slice(0, 20)) {
      const [seq] = tokenizeSft([{ prompt: r.prompt, completion: r.completion }], tok, IM_END, 4096);
      const inference = tok.applyChatTemplate(r.prompt, true);
      expect(seq.ids.slice(0, seq.completionStart)).toEqual(inference);
      expect(tok.decode(seq.ids.slice(seq.completionStart), false)).toBe(`${r.completion[0].content}<|im_end|>\n`);
    }
    // with the GPT-2 regex, merges stay inside words
    const wordMerges = trainBpe(corpus, 100);
    for (const m of wordMerges) expect(m.replace(' ', '').slice(1)).not.toMatch(/Ġ/);
  });
});

describe('demo corpus', () => {
  it('mixes direct answers and thought styles; a slip carries a wrong answer, worked and padded the right one', () => {
    const kinds = new Map<string, number>();
    for (const r of rows) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
    expect([...kinds.keys()].sort()).toEqual(['direct', 'guess', 'padded', 'slip', 'worked']);
    expect(kinds.get('direct')! / rows.length).toBeGreaterThan(0.3);
    expect(kinds.get('direct')! / rows.length).toBeLessThan(0.5);
    const byInstruction = new Map(tasks.map((t) => [t.instruction, t]));
    for (const r of rows) {
      const content = r.completion[0].content;
      if (r.kind === 'direct') {
        expect(content).toBe(byInstruction.get(r.prompt[0].content)!.answer);
        continue;
      }
      const instruction = r.prompt[0].content.split('User query: ')[1];
      const t = byInstruction.get(instruction)!;
      expect(content.startsWith(GENERIC.thoughtMarker!)).toBe(true);
      const answer = content.split(`${GENERIC.separator} `)[1];
      if (r.kind === 'worked' || r.kind === 'padded') expect(answer).toBe(t.answer);
      if (r.kind === 'slip') expect(answer).not.toBe(t.answer);
    }
    expect(thoughtCompletion('t', 'a')).toBe('Here is my thought process: t\n\nHere is my response: a');
  });
});

describe('SFT packing', () => {
  it('packs conversations into rows with the same scored tokens, in order, never over the row length', async () => {
    const tok = (await loadTokenizer(memorySource(byteTokenizerFiles([]))))!;
    const seqs = tokenizeSft(rows.slice(0, 40).map((r) => ({ prompt: r.prompt, completion: r.completion })), tok, IM_END, 2048);
    const packed = packSequences(seqs, 2048);
    expect(packed.length).toBeLessThan(seqs.length);
    for (const p of packed) expect(p.ids.length).toBeLessThanOrEqual(2048);
    expect(packed.flatMap((p) => p.ids)).toEqual(seqs.flatMap((s) => s.ids));
    // the (position → next token) targets are exactly the unpacked ones
    const targets = (ss: typeof seqs) => ss.flatMap((s) => scoredPositions(s).map((p) => s.ids[p + 1]));
    expect(targets(packed)).toEqual(targets(seqs));
    expect(packed.reduce((a, p) => a + scoredPositions(p).length, 0)).toBe(seqs.reduce((a, s) => a + s.ids.length - s.completionStart, 0));
    expect(() => packSequences(seqs, 10)).toThrow(/does not fit/);
  });
});
