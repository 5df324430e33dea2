// Generation semantics: prefill + decode equals one full forward, a batch equals its sequences
// run one at a time, chunked prefill equals one-pass prefill, seeds reproduce, stops work.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fitSlots, loadModel, type LoadedModel } from '../src/engine/model';
import { loadCheckpoint } from '../src/model/checkpoint';
import { folderSource } from '../src/model/source-node';
import { readF32 } from '../src/gpu/readback';
import { refLogits, refWeights } from './reference/llama';
import { expectClose } from './helpers/compare';
import { testGpu } from './helpers/gpu';
import { writeTinyModel } from './helpers/tiny-model';

let dir: string;
beforeAll(() => {
  dir = writeTinyModel(mkdtempSync(join(tmpdir(), 'tpo-gen-')), {
    type: 'qwen2',
    seed: 11,
    vocab: 96,
    hidden: 32,
    layers: 2,
  });
});

async function model(opts: Parameters<typeof loadModel>[2] = {}): Promise<LoadedModel> {
  return loadModel(await testGpu(), folderSource(dir), { slots: 4, maxLen: 48, maxRows: 64, ...opts });
}

const prompts = [[1, 4, 9, 16], [1, 30], [1, 2, 3, 5, 8, 13, 21, 34], [1]];

describe('generation', () => {
  it('prefill + decode steps give the logits of one full forward over the same tokens', async () => {
    const m = await model({ slots: 1, maxOut: 1 });
    const [g] = await m.generate([prompts[0]], { maxNewTokens: 6, temperature: 0, eosTokenIds: [] });
    // After generation, the last decode step's logits are for the last input token.
    const lastStep = await readF32(m.gpu.device, m.forward.logits, m.config.vocab);
    const seq = [...prompts[0], ...g.tokenIds];
    const ref = refLogits(refWeights(await loadCheckpoint(folderSource(dir))), seq.slice(0, -1));
    expectClose('decode-step logits vs full forward', lastStep, ref[ref.length - 1], 1e-4, 1e-4);
    // Greedy tokens equal the reference argmax at every generated position.
    g.tokenIds.forEach((t, i) => {
      const l = ref[prompts[0].length - 1 + i];
      expect(t, `token ${i}`).toBe(l.indexOf(Math.max(...l)));
    });
    m.destroy();
  });

  it('a ragged batch equals its sequences run one at a time (greedy and sampled)', async () => {
    for (const sampling of [{ temperature: 0 }, { temperature: 0.9, topP: 0.9, seed: 42 }]) {
      const m = await model();
      const batch = await m.generate(prompts, { maxNewTokens: [5, 9, 3, 7], eosTokenIds: [], ...sampling });
      m.destroy();
      const single = await model({ slots: 1 });
      for (let i = 0; i < prompts.length; i++) {
        const [one] = await single.generate([prompts[i]], {
          maxNewTokens: [5, 9, 3, 7][i],
          eosTokenIds: [],
          ...sampling,
          seeds: [(sampling.seed ?? 0) + i],
        });
        expect(batch[i].tokenIds, `sequence ${i} ${JSON.stringify(sampling)}`).toEqual(one.tokenIds);
      }
      expect(batch.map((b) => b.tokenIds.length)).toEqual([5, 9, 3, 7]);
      single.destroy();
    }
  });

  it('a wide batch: 40 sequences decode together (past the fused few-row kernels) as they do alone', async () => {
    const wide = Array.from({ length: 40 }, (_, i) => [1, 2 + (i % 50), 3 + ((7 * i) % 60)]);
    const m = await model({ slots: undefined, maxSlots: 64 });
    expect(m.forward.shape.slots).toBe(64); // the tiny model's caches fit: as many as asked
    const batch = await m.generate(wide, { maxNewTokens: 5, temperature: 0, eosTokenIds: [] });
    m.destroy();
    const single = await model({ slots: 1 });
    for (const i of [0, 17, 39]) {
      const [one] = await single.generate([wide[i]], { maxNewTokens: 5, temperature: 0, eosTokenIds: [] });
      expect(batch[i].tokenIds, `sequence ${i}`).toEqual(one.tokenIds);
    }
    single.destroy();
  });

  it('fitSlots: as many sequences as one binding and the KV budget allow, at most the ones asked for', async () => {
    const gpu = await testGpu();
    const cfg = (await loadCheckpoint(folderSource(dir))).config;
    const perSlot = cfg.kvHeads * 48 * cfg.headDim * 4; // one layer's keys of one sequence, maxLen 48
    expect(fitSlots(gpu, cfg, 48, 64)).toBe(64);
    expect(fitSlots(gpu, cfg, 48, 64, 2 * cfg.layers * perSlot * 10)).toBe(10);
    expect(fitSlots(gpu, cfg, 48, 64, 1)).toBe(1); // never below one
  });

  it('prefill split over several passes equals a one-pass prefill', async () => {
    const a = await model();
    const one = await a.generate(prompts, { maxNewTokens: 6, temperature: 0, eosTokenIds: [] });
    a.destroy();
    const b = await model({ maxRows: 5 }); // 15 prompt tokens → 3 passes, prompts cut mid-way
    const split = await b.generate(prompts, { maxNewTokens: 6, temperature: 0, eosTokenIds: [] });
    b.destroy();
    expect(split.map((s) => s.tokenIds)).toEqual(one.map((s) => s.tokenIds));
  });

  it('the same seed gives the same samples; another seed differs; more prompts than slots', async () => {
    const m = await model({ slots: 2 });
    const many = Array.from({ length: 5 }, () => [1, 7]);
    const x = await m.generate(many, { maxNewTokens: 12, temperature: 1, seed: 5, eosTokenIds: [] });
    const y = await m.generate(many, { maxNewTokens: 12, temperature: 1, seed: 5, eosTokenIds: [] });
    const z = await m.generate(many, { maxNewTokens: 12, temperature: 1, seed: 6, eosTokenIds: [] });
    expect(y.map((s) => s.tokenIds)).toEqual(x.map((s) => s.tokenIds));
    expect(z.map((s) => s.tokenIds)).not.toEqual(x.map((s) => s.tokenIds));
    expect(new Set(x.map((s) => s.tokenIds.join())).size).toBeGreaterThan(1); // seeds differ per sample
    m.destroy();
  });

  it('stops on EOS, on the context limit, and rejects bad prompts', async () => {
    const m = await model({ slots: 1, maxLen: 12 });
    const [free] = await m.generate([[1, 2]], { maxNewTokens: 8, temperature: 0, eosTokenIds: [] });
    const eos = free.tokenIds[3];
    const [stopped] = await m.generate([[1, 2]], { maxNewTokens: 8, temperature: 0, eosTokenIds: [eos] });
    expect(stopped.finishReason).toBe('eos');
    expect(stopped.tokenIds).toEqual(free.tokenIds.slice(0, free.tokenIds.indexOf(eos)));
    const [ctx] = await m.generate([[1, 2]], { maxNewTokens: 100, temperature: 0, eosTokenIds: [] });
    expect(ctx.finishReason).toBe('context');
    expect(ctx.tokenIds.length).toBe(12 - 2 + 1);
    await expect(m.generate([[1, 500]])).rejects.toThrow(/outside the vocabulary/);
    await expect(m.generate([[]])).rejects.toThrow(/empty/);
    m.destroy();
  });
});
