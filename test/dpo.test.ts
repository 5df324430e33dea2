// DPO and SFT with TRL semantics on a tiny model: first step at ln 2, learning on fixed pairs,
// SFT lowering NLL, NaN guard, and TRL-format data (plain and conversational).

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/model/checkpoint';
import { folderSource } from '../src/model/source-node';
import { loadTokenizer } from '../src/model/tokenizer';
import { uploadWeights } from '../src/engine/weights';
import { readF32 } from '../src/gpu/readback';
import { LoraLayout, LoraState, TARGETS } from '../src/train/lora';
import { DEFAULT_TRAIN, Trainer, TrainingDivergedError, type StepMetrics } from '../src/train/trainer';
import { scoredPositions, tokenizePairs, tokenizeSft, truncation, type Seq, type Truncation } from '../src/train/data';
import { refLogits, refWeights } from './reference/llama';
import { testGpu } from './helpers/gpu';
import { writeTinyModel } from './helpers/tiny-model';

async function setup(opts: { seqs: number; seqLen: number; r?: number }) {
  const gpu = await testGpu();
  const dir = writeTinyModel(mkdtempSync(join(tmpdir(), 'tpo-dpo-')), {
    seed: 60,
    hidden: 32,
    heads: 4,
    kvHeads: 2,
    intermediate: 48,
    layers: 2,
    vocab: 64,
  });
  const ck = await loadCheckpoint(folderSource(dir));
  const layout = new LoraLayout(ck.config, { r: opts.r ?? 4, alpha: 8, targets: [...TARGETS] });
  const init = layout.init(7);
  const state = new LoraState(gpu.device, layout, init);
  const trainer = new Trainer(gpu, ck.config, uploadWeights(gpu, ck, 'f32'), {
    ...{ lora: { layout, state }, seqs: opts.seqs, seqLen: opts.seqLen },
  });
  return { gpu, trainer, state, layout, init, ck };
}

const pairs = tokenizePairs(
  [
    { prompt_ids: [1, 5, 6], chosen_ids: [10, 11, 12], rejected_ids: [20, 21] },
    { prompt_ids: [1, 7], chosen_ids: [13, 14], rejected_ids: [22, 23, 24, 25] },
    { prompt_ids: [1, 8, 9, 3], chosen_ids: [15], rejected_ids: [26, 27] },
    { prompt_ids: [1, 4], chosen_ids: [16, 17, 18], rejected_ids: [28] },
  ],
  null,
  undefined,
  12,
);

describe('DPO', () => {
  it('a fresh adapter equals the reference: first step loss = ln 2, rewards 0', async () => {
    const { trainer, ck } = await setup({ seqs: 4, seqLen: 12 });
    const o = { ...DEFAULT_TRAIN, batchSize: 2, lr: 1e-3 };
    const ref = await trainer.referenceLogps(pairs, o);
    const logs: StepMetrics[] = [];
    await trainer.dpo(pairs.slice(0, 2), ref, o, (m) => logs.push(m));
    expect(logs[0].loss).toBeCloseTo(Math.LN2, 5);
    // TRL's logits/chosen|rejected: the mean logit over the completion tokens' vocabulary rows, here
    // of the base model (a fresh adapter adds nothing) by the float64 reference.
    const w = refWeights(ck);
    const meanLogit = (seqs: Seq[]) => {
      let sum = 0,
        count = 0;
      for (const s of seqs) {
        const logits = refLogits(w, s.ids);
        for (const p of scoredPositions(s)) {
          sum += logits[p].reduce((a, v) => a + v, 0);
          count += ck.config.vocab;
        }
      }
      return sum / count;
    };
    expect(logs[0]['logits/chosen']).toBeCloseTo(meanLogit(pairs.slice(0, 2).map((p) => p.chosen)), 4);
    expect(logs[0]['logits/rejected']).toBeCloseTo(meanLogit(pairs.slice(0, 2).map((p) => p.rejected)), 4);
    expect(logs[0]['logits/chosen']).not.toBeCloseTo(logs[0]['logits/rejected']!, 4);
    expect(logs[0]['rewards/chosen']).toBeCloseTo(0, 5);
    expect(logs[0]['rewards/margins']).toBeCloseTo(0, 5);
    expect(logs[0].grad_norm).toBeGreaterThan(0);
    expect(Object.keys(logs[0]).sort()).toEqual(
      [
        'epoch',
        'grad_norm',
        'logits/chosen',
        'logits/rejected',
        'logps/chosen',
        'logps/rejected',
        'loss',
        'lr',
        'rewards/accuracies',
        'rewards/chosen',
        'rewards/margins',
        'rewards/rejected',
        'step',
      ].sort(),
    );
    trainer.destroy();
  });

  it('on fixed pairs it drives rewards/accuracies to 1 and the loss well below ln 2', async () => {
    const { trainer } = await setup({ seqs: 4, seqLen: 12 });
    const o = {
      ...DEFAULT_TRAIN,
      batchSize: 2,
      gradAccum: 2,
      lr: 5e-3,
      epochs: 12,
      beta: 0.5,
      schedule: 'constant' as const,
    };
    const ref = await trainer.referenceLogps(pairs, o);
    const logs: StepMetrics[] = [];
    await trainer.dpo(pairs, ref, o, (m) => logs.push(m));
    const last = logs[logs.length - 1];
    expect(logs).toHaveLength(12);
    expect(last['rewards/accuracies']).toBe(1);
    expect(last.loss).toBeLessThan(0.5 * Math.LN2);
    expect(last['rewards/margins']!).toBeGreaterThan(0);
    trainer.destroy();
  });

  it('NaN gradients stop the step and leave the adapter intact', async () => {
    const { gpu, trainer, state, layout } = await setup({ seqs: 4, seqLen: 12 });
    const before = await readF32(gpu.device, state.params, layout.length);
    trainer.zeroGrad();
    gpu.device.queue.writeBuffer(state.grads, 0, new Float32Array([NaN]));
    await expect(trainer.optimizerStep(1e-3, DEFAULT_TRAIN)).rejects.toThrow(TrainingDivergedError);
    expect(Array.from(await readF32(gpu.device, state.params, layout.length))).toEqual(Array.from(before));
    trainer.destroy();
  });
});

describe('SFT', () => {
  it('drives the completion NLL of a few rows down', async () => {
    const { trainer } = await setup({ seqs: 2, seqLen: 10 });
    const rows = tokenizeSft(
      [
        { prompt_ids: [1, 2, 3], completion_ids: [30, 31, 32, 33] },
        { prompt_ids: [1, 9], completion_ids: [40, 41, 42] },
      ],
      null,
      undefined,
      10,
    );
    const logs: StepMetrics[] = [];
    await trainer.sft(rows, { ...DEFAULT_TRAIN, batchSize: 2, lr: 1e-2, epochs: 15, schedule: 'constant' }, (m) =>
      logs.push(m),
    );
    expect(logs[0].loss).toBeGreaterThan(2);
    expect(logs[logs.length - 1].loss).toBeLessThan(0.5 * logs[0].loss);
    trainer.destroy();
  });
});

describe('TRL-format data', () => {
  it('conversational pairs: completion = template(prompt + answer) minus template(prompt, generation prompt)', async () => {
    const dir = writeTinyModel(mkdtempSync(join(tmpdir(), 'tpo-data-')), { seed: 2, tokenizer: true });
    const tok = (await loadTokenizer(folderSource(dir)))!;
    const [p] = tokenizePairs(
      [
        {
          prompt: [{ role: 'user', content: 'Hi' }],
          chosen: [{ role: 'assistant', content: 'Yo' }],
          rejected: [{ role: 'assistant', content: 'No!' }],
        },
      ],
      tok,
      258,
      256,
    );
    expect(tok.decode(p.chosen.ids.slice(0, p.chosen.completionStart), false)).toBe(
      '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(tok.decode(p.chosen.ids.slice(p.chosen.completionStart), false)).toBe('Yo<|im_end|>\n');
    expect(tok.decode(p.rejected.ids.slice(p.rejected.completionStart), false)).toBe('No!<|im_end|>\n');
    const [plain] = tokenizePairs([{ prompt: 'Q: 2+2=', chosen: ' 4', rejected: ' 5' }], tok, 258, 256);
    expect(plain.chosen.ids.slice(plain.chosen.completionStart)).toEqual([...tok.encode(' 4', false), 258]);
    expect(() => tokenizePairs([{ prompt: 'x', chosen: 'y' }], tok, 258, 256)).toThrow(
      /needs "prompt", "chosen" and "rejected"/,
    );
    expect(() => tokenizePairs([{ prompt: 'x', chosen: 'y', rejected: 'z' }], null, 258, 256)).toThrow(
      /need a tokenizer/,
    );
  });
  it("truncation follows TRL's DPOConfig: max_prompt_length keeps the prompt's end, max_completion_length the completion's start, then max_length keeps the end or the start", () => {
    const row = { prompt_ids: [1, 2, 3, 4, 5, 6], chosen_ids: [10, 11, 12, 13], rejected_ids: [20, 21] };
    const cut = (t: Partial<Truncation>, maxLength: number) => {
      const [p] = tokenizePairs([row], null, undefined, truncation(maxLength, t));
      return [p.chosen, p.rejected].map((s) => ({ ids: s.ids, start: s.completionStart }));
    };
    // Everything fits: nothing cut.
    expect(cut({}, 10)).toEqual([
      { ids: [1, 2, 3, 4, 5, 6, 10, 11, 12, 13], start: 6 },
      { ids: [1, 2, 3, 4, 5, 6, 20, 21], start: 6 },
    ]);
    // keep_end (TRL's default): the prompt's start goes first.
    expect(cut({}, 8)).toEqual([
      { ids: [3, 4, 5, 6, 10, 11, 12, 13], start: 4 },
      { ids: [1, 2, 3, 4, 5, 6, 20, 21], start: 6 },
    ]);
    // keep_start: the completion's end goes.
    expect(cut({ mode: 'keep_start' }, 8)).toEqual([
      { ids: [1, 2, 3, 4, 5, 6, 10, 11], start: 6 },
      { ids: [1, 2, 3, 4, 5, 6, 20, 21], start: 6 },
    ]);
    // max_prompt_length keeps the prompt's last tokens; max_completion_length the completion's first.
    expect(cut({ maxPromptLength: 2, maxCompletionLength: 3 }, 100)).toEqual([
      { ids: [5, 6, 10, 11, 12], start: 2 },
      { ids: [5, 6, 20, 21], start: 2 },
    ]);
    // keep_end past the whole prompt: only completion tokens remain (the first has no prediction).
    expect(cut({ maxPromptLength: null }, 3)[0]).toEqual({ ids: [11, 12, 13], start: 0 });
    // keep_start that leaves no completion token is refused with what to change.
    expect(() => cut({ mode: 'keep_start' }, 6)).toThrow(
      /no completion token is left within --max-length 6[\s\S]*--max-prompt-length/,
    );
    // The default prompt limit is TRL's 512 tokens.
    const long = { prompt_ids: Array.from({ length: 600 }, (_, i) => i + 1), chosen_ids: [7], rejected_ids: [8] };
    const [p] = tokenizePairs([long], null, undefined, 2048);
    expect(p.chosen.completionStart).toBe(512);
    expect(p.chosen.ids[0]).toBe(89);
  });
});
