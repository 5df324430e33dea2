// The training graph end to end: LoRA gradients of the whole model against central finite
// differences of the float64 reference loss.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/model/checkpoint';
import { folderSource } from '../src/model/source-node';
import { uploadWeights, destroyWeights } from '../src/engine/weights';
import { readF32 } from '../src/gpu/readback';
import { LoraLayout, LoraState } from '../src/train/lora';
import { KEEP_ALL_BYTES, recomputes, TrainGraph, trainGraphBytes } from '../src/train/graph';
import { attentionStarts } from '../src/train/data';
import { rng } from '../src/rng';
import { refLogits, refWeights } from './reference/llama';
import { logSoftmax } from './reference/ops';
import { numericGradAt } from './reference/grad';
import { expectClose } from './helpers/compare';
import { noGpuErrors, testGpu } from './helpers/gpu';
import { writeTinyModel } from './helpers/tiny-model';
import { loraGradientCheck, MASK } from './helpers/lora-grad-check';

describe('training graph', () => {
  for (const [type, recompute, dtype, quantized] of [
    ['llama', true, 'F32', undefined],
    ['qwen2', true, 'F32', undefined],
    ['llama', false, 'F32', undefined],
    ['qwen2', true, 'BF16', undefined],
    ['llama', false, 'F16', undefined],
    ['qwen2', true, 'BF16', 'q4'], // QLoRA: the frozen base quantized at load
    ['llama', false, 'F32', 'q8'],
  ] as const) {
    const base = quantized
      ? ` over a ${quantized} base (from ${dtype.toLowerCase()})`
      : dtype === 'F32'
        ? ''
        : ` over a ${dtype.toLowerCase()} base kept 16-bit`;
    it(`${type}${recompute ? '' : ' (all activations kept)'}${base}: LoRA gradients (all 7 targets) equal finite differences of the float64 loss`, async () => {
      const gpu = await testGpu();
      const checks = await noGpuErrors(gpu, () => loraGradientCheck(gpu, type, recompute, dtype, quantized));
      expect(checks).toHaveLength(2 * 7 * 2);
      for (const c of checks) expectClose(c.what, c.got, c.want, 2e-3, 2e-5);
    });
  }
});

describe('training graph memory plan', () => {
  it('log-probs and gradients are the same with logits in 64-row chunks as in one chunk', async () => {
    const gpu = await testGpu();
    const dir = writeTinyModel(mkdtempSync(join(tmpdir(), 'tpo-chunk-')), {
      seed: 52,
      hidden: 16,
      heads: 2,
      kvHeads: 1,
      intermediate: 24,
      layers: 1,
      vocab: 40,
    });
    const ck = await loadCheckpoint(folderSource(dir));
    const S = 2,
      T = 80,
      N = S * T;
    const layout = new LoraLayout(ck.config, { r: 2, alpha: 4, targets: ['q_proj', 'down_proj'] });
    const flat = layout.init(3);
    for (const m of layout.modules) flat.fill(0.05, m.B.offset, m.B.offset + m.B.length);
    const rand = rng(53);
    const ids = Array.from({ length: N }, () => 1 + Math.floor(rand() * 39));
    const targets = ids.map((_, i) => (i % T === T - 1 ? MASK : ids[i + 1]));
    const coef = targets.map((t) => (t === MASK ? 0 : rand() - 0.5));
    const weights = uploadWeights(gpu, ck, 'f32');
    const run = async (logitRows: number) => {
      const state = new LoraState(gpu.device, layout, flat);
      const graph = new TrainGraph(gpu, ck.config, weights, layout, state, { seqs: S, seqLen: T, logitRows });
      gpu.device.queue.writeBuffer(graph.ids, 0, new Uint32Array(ids));
      gpu.device.queue.writeBuffer(graph.targets, 0, new Uint32Array(targets));
      gpu.device.queue.writeBuffer(graph.coef, 0, new Float32Array(coef));
      const enc = gpu.device.createCommandEncoder();
      graph.encodeForward(enc, true);
      graph.encodeBackward(enc);
      gpu.device.queue.submit([enc.finish()]);
      const out = {
        logp: await readF32(gpu.device, graph.logp, N),
        grads: await readF32(gpu.device, state.grads, layout.length),
      };
      graph.destroy();
      state.destroy();
      return out;
    };
    const one = await run(192),
      chunked = await run(64);
    destroyWeights(weights);
    expectClose('logp', chunked.logp, one.logp, 1e-6, 1e-6);
    expectClose('grads', chunked.grads, one.grads, 1e-5, 1e-7);
    if (!one.grads.some((g) => g !== 0)) throw new Error('gradients are all zero');
  });
});

describe('packed rows', () => {
  it('a row packing three conversations scores each token as that conversation alone would (float64 reference)', async () => {
    const gpu = await testGpu();
    const dir = writeTinyModel(mkdtempSync(join(tmpdir(), 'tpo-pack-')), {
      seed: 58,
      hidden: 32,
      heads: 4,
      kvHeads: 2,
      intermediate: 48,
      layers: 2,
      vocab: 64,
    });
    const ck = await loadCheckpoint(folderSource(dir));
    const weights = uploadWeights(gpu, ck, 'f32');
    const T = 40,
      starts = [0, 11, 27];
    const rand = rng(59);
    const ids = Array.from({ length: T }, () => 1 + Math.floor(rand() * 60));
    const targets = ids.map((_, p) => (p === T - 1 || starts.includes(p + 1) ? MASK : ids[p + 1]));
    const graph = new TrainGraph(gpu, ck.config, weights, null, null, { seqs: 1, seqLen: T });
    graph.writeInputs(
      new Uint32Array(ids),
      new Uint32Array(targets),
      new Uint32Array(attentionStarts({ ids, completionStart: 0, starts })),
    );
    const enc = gpu.device.createCommandEncoder();
    graph.encodeForward(enc, false);
    gpu.device.queue.submit([enc.finish()]);
    const logp = await readF32(gpu.device, graph.logp, T);
    const w = refWeights(ck);
    const want = starts.flatMap((a, i) =>
      refLogits(w, ids.slice(a, starts[i + 1] ?? T)).map((l, j) =>
        targets[a + j] === MASK ? 0 : logSoftmax(l)[targets[a + j]],
      ),
    );
    expectClose('packed logp', logp, want, 1e-4, 1e-5);
    graph.destroy();
    destroyWeights(weights);
  });
});

describe('training memory figure', () => {
  it('trainGraphBytes predicts what the graph allocates (recompute on, off, and unset: chosen by size)', async () => {
    const gpu = await testGpu();
    const dir = writeTinyModel(mkdtempSync(join(tmpdir(), 'tpo-mem-')), {
      seed: 54,
      hidden: 32,
      heads: 4,
      kvHeads: 2,
      intermediate: 48,
      layers: 3,
      vocab: 64,
    });
    const ck = await loadCheckpoint(folderSource(dir));
    const weights = uploadWeights(gpu, ck, 'f32');
    const layout = new LoraLayout(ck.config, { r: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'up_proj'] });
    const state = new LoraState(gpu.device, layout, layout.init(1));
    for (const recompute of [true, false, undefined]) {
      const shape = { seqs: 4, seqLen: 24, recompute };
      const graph = new TrainGraph(gpu, ck.config, weights, layout, state, shape);
      const predicted = trainGraphBytes(ck.config, shape, 4, 3);
      if (Math.abs(graph.bytes - predicted) > 0.01 * graph.bytes)
        throw new Error(`recompute ${recompute}: predicted ${predicted} bytes, allocated ${graph.bytes}`);
      // unset: this small graph keeps every layer's activations
      expect(graph.recompute).toBe(recompute ?? false);
      graph.destroy();
    }
    // unset: recomputation starts where keeping all activations would pass KEEP_ALL_BYTES
    const keepAll = (seqLen: number) => trainGraphBytes(ck.config, { seqs: 4, seqLen, recompute: false }, 4, 3);
    let T = 24;
    while (keepAll(T) <= KEEP_ALL_BYTES) T *= 2;
    expect(recomputes(ck.config, { seqs: 4, seqLen: T }, 4, 3)).toBe(true);
    expect(recomputes(ck.config, { seqs: 4, seqLen: T / 2 }, 4, 3)).toBe(false);
    expect(recomputes(ck.config, { seqs: 4, seqLen: T, recompute: false }, 4, 3)).toBe(false);
    state.destroy();
    destroyWeights(weights);
  });
});

/** Full-parameter gradients of Σ coef · log p(target) from the training graph (one forward + backward). */
async function fullGradients(
  gpu: Awaited<ReturnType<typeof testGpu>>,
  ck: Awaited<ReturnType<typeof loadCheckpoint>>,
  S: number,
  T: number,
  ids: number[],
  targets: number[],
  coef: number[],
  recompute?: boolean,
  packed: number[][] = [],
): Promise<Map<string, Float32Array>> {
  const { FullParams } = await import('../src/train/full');
  const weights = uploadWeights(gpu, ck, 'f32');
  const full = new FullParams(gpu.device, ck.config, weights);
  const graph = new TrainGraph(
    gpu,
    ck.config,
    weights,
    null,
    null,
    { seqs: S, seqLen: T, ...(recompute === undefined ? {} : { recompute }) },
    full,
  );
  const starts = Array.from({ length: S }, (_, q) =>
    attentionStarts({ ids: ids.slice(q * T, (q + 1) * T), completionStart: 0, starts: packed[q] }),
  ).flat();
  graph.writeInputs(new Uint32Array(ids), new Uint32Array(targets), new Uint32Array(starts));
  gpu.device.queue.writeBuffer(graph.coef, 0, new Float32Array(coef));
  const enc = gpu.device.createCommandEncoder();
  graph.encodeForward(enc, false);
  graph.encodeBackward(enc);
  gpu.device.queue.submit([enc.finish()]);
  const got = new Map<string, Float32Array>();
  for (const g of full.groups) got.set(g.name, await readF32(gpu.device, g.grads, g.length));
  graph.destroy();
  full.destroy();
  destroyWeights(weights);
  return got;
}

/** The same objective on the float64 reference, over the weights in `w` (edited in place for finite differences). */
/** The float64 objective Σ coef · log p(target); a row packing several conversations (`packed[q]`,
 *  their start positions) is the concatenation of each conversation run alone from position 0. */
function refObjective(
  w: ReturnType<typeof refWeights>,
  S: number,
  T: number,
  ids: number[],
  targets: number[],
  coef: number[],
  packed: number[][] = [],
): () => number {
  return () => {
    let s = 0;
    for (let q = 0; q < S; q++) {
      const starts = packed[q] ?? [0];
      const lg = starts.flatMap((a, i) => refLogits(w, ids.slice(q * T + a, q * T + (starts[i + 1] ?? T))));
      for (let p = 0; p < T; p++)
        if (targets[q * T + p] !== MASK) s += coef[q * T + p] * logSoftmax(lg[p])[targets[q * T + p]];
    }
    return s;
  };
}

describe('full-parameter training graph', () => {
  for (const [type, tie] of [
    ['llama', true],
    ['qwen2', false],
  ] as const) {
    it(`${type} (${tie ? 'tied' : 'untied'} head): gradients of every weight (embedding, norms, biases) equal finite differences`, async () => {
      const gpu = await testGpu();
      const dir = writeTinyModel(mkdtempSync(join(tmpdir(), 'tpo-full-')), {
        type,
        tie,
        seed: 55,
        hidden: 16,
        heads: 2,
        kvHeads: 1,
        intermediate: 24,
        layers: 2,
        vocab: 40,
      });
      const ck = await loadCheckpoint(folderSource(dir));
      const S = 2,
        T = 6,
        N = S * T;
      const rand = rng(56);
      const ids = Array.from({ length: N }, () => 1 + Math.floor(rand() * 12)); // repeated ids: the embedding scatter must add
      const targets = ids.map((_, i) => (i % T === T - 1 || i % T < 1 ? MASK : ids[i + 1]));
      const coef = targets.map((t) => (t === MASK ? 0 : rand() * 2 - 1));
      const got = await fullGradients(gpu, ck, S, T, ids, targets, coef);
      const w = refWeights(ck);
      const loss = refObjective(w, S, T, ids, targets, coef);
      const h = 1e-5;
      expect(got.size).toBe(ck.tensors.size);
      for (const [name, g] of got) {
        const W = w.get(name);
        const picks = name.includes('embed')
          ? [ids[0] * 16, ids[3] * 16 + 5, 30 * 16 + 2, 39 * 16 + 15]
          : Array.from({ length: 6 }, () => Math.floor(rand() * W.length));
        for (const i of picks) expectClose(`${name}[${i}]`, [g[i]], [numericGradAt(W, i, loss, h)], 2e-3, 2e-5);
      }
    });
  }
});

describe("full-parameter gradients at the demo model's own training shape", () => {
  // The tiny shapes above fit one 64-row group of the software adapters' serial attention entries;
  // train:demo runs 128-token rows (several groups, positions past 64) on hidden 64 / head dim 32.
  // Checked on the embedded model's trained weights, where gradients are far from their init values.
  // The second row packs three conversations, as packSequences does: attention stays inside each.
  it('2 rows × 128 tokens (one packed), trained tpo-demo weights: attention, MLP and embedding gradients equal finite differences', async () => {
    const gpu = await testGpu();
    const ck = await loadCheckpoint(folderSource(join(__dirname, '../public/models/tpo-demo')));
    const S = 2,
      T = 128,
      N = S * T;
    const packed = [[0], [0, 45, 100]];
    const rand = rng(57);
    const ids = Array.from({ length: N }, () => 1 + Math.floor(rand() * 300));
    // no target crosses into the next conversation
    const targets = ids.map((_, i) =>
      i % T === T - 1 || packed[Math.floor(i / T)].includes((i % T) + 1) ? MASK : ids[i + 1],
    );
    const coef = targets.map((t) => (t === MASK ? 0 : rand() * 2 - 1));
    const got = await fullGradients(gpu, ck, S, T, ids, targets, coef, false, packed);
    const w = refWeights(ck);
    const loss = refObjective(w, S, T, ids, targets, coef, packed);
    const h = 1e-4;
    let checked = 0;
    for (const [name, g] of got) {
      if (!/layers\.(0|3)\.self_attn\.(q|k|v)_proj|embed|layers\.1\.mlp\.down/.test(name)) continue;
      const W = w.get(name);
      // the two largest gradients and two random entries
      const picks = Array.from(g.keys())
        .sort((a, b) => Math.abs(g[b]) - Math.abs(g[a]))
        .slice(0, 2);
      picks.push(Math.floor(rand() * W.length), Math.floor(rand() * W.length));
      for (const i of picks) {
        expectClose(`${name}[${i}]`, [g[i]], [numericGradAt(W, i, loss, h)], 2e-3, 1e-5);
        checked++;
      }
    }
    expect(checked).toBe(8 * 4);
  }, 600_000);
});
