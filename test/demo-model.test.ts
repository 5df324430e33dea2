// The demo model's parts without a GPU: the BPE trainer (merges that Hugging Face's tokenizer code
// applies unchanged, digits never merged), the thought-style corpus, and SFT packing.

import { describe, expect, it } from 'vitest';
import { trainBpe } from '../src/demo/bpe';
import { completionPieces, sftRows, STYLE_MIX, styleMix, thoughtCompletion } from '../src/demo/corpus';
import { memorySource } from '../src/demo/init';
import { makeSplits } from '../src/demo/tasks';
import { byteTokenizerFiles, IM_END } from '../src/demo/tokenizer';
import { loadTokenizer } from '../src/model/tokenizer';
import { attentionStarts, packSequences, scoredPositions, tokenizeSft } from '../src/train/data';
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
  it('mixes direct answers and thought styles; rambling is the commonest, a slip carries a wrong answer, a worked thought the right one', () => {
    const kinds = new Map<string, number>();
    for (const r of rows) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
    expect([...kinds.keys()].sort()).toEqual(['direct', 'guess', 'rambling', 'slip', 'worked']);
    expect(kinds.get('direct')! / rows.length).toBeGreaterThan(0.15);
    expect(kinds.get('direct')! / rows.length).toBeLessThan(0.35);
    // on a large draw the styles follow STYLE_MIX: rambling, the habit, is the commonest
    const train4k = makeSplits(4, { train: 4000, pool: 10, heldOut: 10 }).train; // one large draw of tasks for the share checks below
    const many = sftRows(train4k, 4).filter((r) => r.kind !== 'direct');
    // within 4 binomial standard deviations of each share (~3,000 thought rows)
    const follows = (got: typeof many, mix: typeof STYLE_MIX) => {
      for (const [style, p] of mix)
        expect(Math.abs(got.filter((r) => r.kind === style).length / got.length - p)).toBeLessThan(
          4 * Math.sqrt((p * (1 - p)) / got.length),
        );
    };
    follows(many, STYLE_MIX);
    expect(STYLE_MIX[0][0]).toBe('rambling');
    // --rambling 0.3: rambling at 0.3, the others in their ratios (worked : guess stays 35 : 15)
    const mix = styleMix(0.3);
    expect(mix.reduce((a, [, p]) => a + p, 0)).toBeCloseTo(1, 12);
    expect(mix[0]).toEqual(['rambling', 0.3]);
    expect(mix.find(([k]) => k === 'worked')![1] / mix.find(([k]) => k === 'guess')![1]).toBeCloseTo(35 / 15, 12);
    const fewer = sftRows(train4k, 4, undefined, mix).filter((r) => r.kind !== 'direct');
    follows(fewer, mix);
    expect(() => styleMix(1)).toThrow(RangeError);
    // --guess-right: the share of guesses (rambling or short) that are the right answer; the rest near misses
    const byAnswer = new Map(train4k.map((t) => [t.instruction, t.answer]));
    const guessesRight = (guessRight: number) => {
      const draw = sftRows(train4k, 4, undefined, STYLE_MIX, guessRight);
      const guesses = draw.filter((r) => r.kind === 'rambling' || r.kind === 'guess');
      const right = guesses.filter(
        (r) =>
          r.completion[0].content.split(`${GENERIC.separator} `)[1] ===
          byAnswer.get(r.prompt[0].content.split('User query: ')[1]),
      ).length;
      return { share: right / guesses.length, n: guesses.length };
    };
    for (const p of [0.5, 0.1]) {
      const { share, n } = guessesRight(p);
      expect(Math.abs(share - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / n));
    }
    expect(guessesRight(0).share).toBe(0);
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
      const thought = content.slice(GENERIC.thoughtMarker!.length + 1).split('\n\n')[0];
      if (r.kind === 'worked') expect(thought).toMatch(new RegExp(`So ${t.answer}\\.$`));
      if (r.kind === 'worked') expect(answer).toBe(t.answer);
      if (r.kind === 'slip') expect(answer).not.toBe(t.answer);
      if (r.kind === 'slip') expect(thought).toMatch(new RegExp(`So ${answer}\\.$`));
      if (r.kind === 'rambling' || r.kind === 'guess') expect(thought).not.toMatch(/\d/); // no work, whatever the answer
    }
    // the BPE corpus pieces never put a marker and the thought's first word in one piece
    for (const r of rows.filter((x) => x.kind !== 'direct').slice(0, 20)) {
      const pieces = completionPieces(r.completion[0].content);
      expect(pieces).toHaveLength(4);
      expect(pieces.join('')).toBe(r.completion[0].content);
      expect(pieces[0]).toBe(`${GENERIC.thoughtMarker} `);
    }
    expect(thoughtCompletion('t', 'a')).toBe('Here is my thought process: t\n\nHere is my response: a');
  });
});

describe('SFT packing', () => {
  it('packs conversations whole into nearly full rows with the same scored tokens, never over the row length', async () => {
    const tok = (await loadTokenizer(memorySource(byteTokenizerFiles([]))))!;
    const seqs = tokenizeSft(
      rows.slice(0, 120).map((r) => ({ prompt: r.prompt, completion: r.completion })),
      tok,
      IM_END,
      1024,
    );
    const L = 1024;
    const packed = packSequences(seqs, L);
    for (const p of packed) expect(p.ids.length).toBeLessThanOrEqual(L);
    const total = seqs.reduce((a, s) => a + s.ids.length, 0);
    expect(packed.reduce((a, p) => a + p.ids.length, 0)).toBe(total);
    // best fit needs fewer rows than filling rows strictly in order (here 46 vs 49 for a bound of 42)
    let inOrder = 0,
      fill = L;
    for (const q of seqs)
      if (fill + q.ids.length > L) {
        inOrder++;
        fill = q.ids.length;
      } else fill += q.ids.length;
    expect(packed.length).toBeLessThan(inOrder);
    expect(total / (packed.length * L)).toBeGreaterThan(0.88);
    // every conversation sits whole in one row with its own scored span, so the
    // (context → next token) targets are exactly the unpacked ones
    const spans = (ss: typeof seqs) =>
      ss
        .flatMap((s) =>
          (s.scored ?? [[s.completionStart, s.ids.length]]).map(([a, b]) => s.ids.slice(a - 1, b).join(',')),
        )
        .sort();
    expect(spans(packed)).toEqual(spans(seqs));
    for (const s of seqs) expect(packed.some((p) => p.ids.join(',').includes(s.ids.join(',')))).toBe(true);
    // each row's `starts` cut it back into exactly the conversations it holds
    const cut = packed.flatMap((p) =>
      p.starts!.map((a, i) => p.ids.slice(a, p.starts![i + 1] ?? p.ids.length).join(',')),
    );
    expect(cut.sort()).toEqual(seqs.map((s) => s.ids.join(',')).sort());
    const st = attentionStarts(packed[0]);
    expect(st.length).toBe(packed[0].ids.length);
    packed[0].starts!.forEach((a) => expect(st[a]).toBe(a));
    expect(st.every((v, p) => v <= p && (p === 0 || v === st[p - 1] || v === p))).toBe(true);
    expect(packed.reduce((a, p) => a + scoredPositions(p).length, 0)).toBe(
      seqs.reduce((a, s) => a + s.ids.length - s.completionStart, 0),
    );
    expect(() => packSequences(seqs, 10)).toThrow(/does not fit/);
  });
});
