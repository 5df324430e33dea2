// Whole-model checks against the float64 reference: logits of random tiny Llama and Qwen2 models
// (f32, bf16, f16, sharded, untied, split embeddings), and greedy decoding of the real stories260K.

import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint, tensorF32 } from '../src/model/checkpoint';
import { bf16ToF32, toBf16Bits } from '../src/model/dtype';
import { refAsQuantized } from './helpers/stored-weights';
import { type TensorToWrite, writeSafetensors } from '../src/model/safetensors';
import { folderSource } from '../src/model/source-node';
import { loadModel } from '../src/engine/model';
import { refGreedy, refLogits, type RefWeights, refWeights } from './reference/llama';
import { expectClose } from './helpers/compare';
import { noGpuErrors, testGpu } from './helpers/gpu';
import { writeTinyModel, type TinyOptions } from './helpers/tiny-model';

const STORIES = join(__dirname, '../public/models/stories260K');
const tmp = () => mkdtempSync(join(tmpdir(), 'tpo-model-'));

/** The GPU forward over `tokens` (one sequence, every position) → logits [T·V]. */
async function gpuLogits(dir: string, tokens: number[], extra: Parameters<typeof loadModel>[2] = {}) {
  const m = await loadModel(await testGpu(), folderSource(dir), {
    slots: 1,
    maxLen: 64,
    maxRows: 64,
    maxOut: 64,
    ...extra,
  });
  const flat = await m.logits(tokens);
  m.destroy();
  return { flat, V: m.config.vocab };
}

async function checkLogits(o: TinyOptions, tol: { rtol: number; atol: number }, extra = {}, length = 12) {
  const dir = writeTinyModel(tmp(), o);
  const tokens = Array.from(
    { length },
    (_, i) => [1, 5, 9, 3, 17, 22, 40, 8, 8, 2, 33, 11][i % 12] + Math.floor(i / 12),
  );
  const want = refLogits(refWeights(await loadCheckpoint(folderSource(dir))), tokens);
  const gpu = await testGpu();
  const { flat, V } = await noGpuErrors(gpu, () => gpuLogits(dir, tokens, extra));
  tokens.forEach((_, t) =>
    expectClose(`logits at position ${t}`, flat.subarray(t * V, (t + 1) * V), want[t], tol.rtol, tol.atol),
  );
}

describe('whole-model logits vs float64 reference', () => {
  it('random tiny Llama (GQA, tied, f32)', () => checkLogits({ type: 'llama', seed: 3 }, { rtol: 1e-4, atol: 1e-4 }));
  it('40 tokens in one pass: the prefill (gemm) matmul path', () =>
    checkLogits({ type: 'qwen2', seed: 8 }, { rtol: 1e-4, atol: 1e-4 }, {}, 40));
  it('random tiny Qwen2 (q/k/v bias, untied, f32)', () =>
    checkLogits({ type: 'qwen2', seed: 4, tie: false }, { rtol: 1e-4, atol: 1e-4 }));
  it('bf16 checkpoint, sharded in 3 files', () =>
    checkLogits({ type: 'llama', seed: 5, dtype: 'BF16', shards: 3 }, { rtol: 1e-4, atol: 1e-4 }));
  it('f16 checkpoint with the embedding split into 4 row chunks', () =>
    checkLogits(
      { type: 'qwen2', seed: 6, dtype: 'F16', vocab: 64, hidden: 32 },
      { rtol: 1e-4, atol: 1e-4 },
      { maxChunkBytes: 16 * 32 * 4 },
    ));
  it('bf16 checkpoint, 40 tokens in one pass: the gemm over packed 16-bit weights', () =>
    checkLogits({ type: 'qwen2', seed: 8, dtype: 'BF16' }, { rtol: 1e-4, atol: 1e-4 }, {}, 40));
  it('a bf16 checkpoint widened to f32 on request (--dtype f32) gives the same logits', () =>
    checkLogits({ type: 'llama', seed: 5, dtype: 'BF16' }, { rtol: 1e-4, atol: 1e-4 }, { weightDtype: 'f32' }));
  it('an f32 checkpoint stored as bf16 on request equals the reference on the bf16-rounded weights', async () => {
    const dir = writeTinyModel(tmp(), { type: 'llama', seed: 9 });
    const tokens = [1, 5, 9, 3, 17, 22, 40, 8];
    const exact = refWeights(await loadCheckpoint(folderSource(dir)));
    const want = refLogits(roundedTo16(exact, bf16ToF32, toBf16Bits), tokens);
    const { flat, V } = await noGpuErrors(await testGpu(), () => gpuLogits(dir, tokens, { weightDtype: 'bf16' }));
    tokens.forEach((_, t) => expectClose(`logits at ${t}`, flat.subarray(t * V, (t + 1) * V), want[t], 1e-4, 1e-4));
  });
});

describe('quantized weights (q8, q4 at load)', () => {
  for (const t of ['q8', 'q4'] as const)
    it(`an f32 checkpoint stored as ${t} equals the reference on the dequantized weights (8 rows: decode kernels; 40: the gemm)`, async () => {
      const dir = writeTinyModel(tmp(), { type: 'qwen2', seed: 11, tie: false });
      const exact = refWeights(await loadCheckpoint(folderSource(dir)));
      for (const n of [8, 40]) {
        const tokens = Array.from({ length: n }, (_, i) => 1 + ((i * 7 + 3) % 60));
        const want = refLogits(refAsQuantized(exact, t), tokens);
        const { flat, V } = await noGpuErrors(await testGpu(), () => gpuLogits(dir, tokens, { weightDtype: t }));
        tokens.forEach((_, i) => expectClose(`logits at ${i}`, flat.subarray(i * V, (i + 1) * V), want[i], 1e-4, 1e-4));
      }
    });
  it('weight memory: q8 and q4 blocks (scales included) for the linears and embeddings, f32 norms and biases', async () => {
    const gpu = await testGpu();
    const dir = writeTinyModel(tmp(), { type: 'qwen2', seed: 12, tie: false, hidden: 64, intermediate: 128 });
    const sizes: Record<string, number> = {};
    for (const t of ['f32', 'q8', 'q4'] as const) {
      const m = await loadModel(gpu, folderSource(dir), { slots: 1, maxLen: 16, weightDtype: t });
      expect(m.weights.wt).toBe(t);
      sizes[t] = m.weights.bytes;
      m.destroy();
    }
    const cfg = (await loadCheckpoint(folderSource(dir))).config;
    const { hidden: H, layers: L, heads, kvHeads, headDim } = cfg;
    const vecBytes = 4 * (L * (2 * H + (heads + 2 * kvHeads) * headDim) + H);
    const weights = (sizes.f32 - vecBytes) / 4; // every tensor here is a multiple of 64 values
    expect(sizes.q8 - vecBytes).toBe(weights * 1.0625);
    expect(sizes.q4 - vecBytes).toBe(weights * 0.5625);
  });
});

describe('16-bit weights stay 16-bit', () => {
  it('auto keeps bf16 and f16 checkpoints in their type; weight memory is half of f32 but norms and biases', async () => {
    const gpu = await testGpu();
    for (const dtype of ['BF16', 'F16'] as const) {
      const dir = writeTinyModel(tmp(), { type: 'qwen2', seed: 10, dtype, tie: false });
      const half = await loadModel(gpu, folderSource(dir), { slots: 1, maxLen: 16 });
      const full = await loadModel(gpu, folderSource(dir), { slots: 1, maxLen: 16, weightDtype: 'f32' });
      expect(half.weights.wt).toBe(dtype.toLowerCase());
      expect(full.weights.wt).toBe('f32');
      // f32 everywhere: norms (2 per layer + final) and q/k/v biases
      const { hidden: H, layers: L, heads, kvHeads, headDim } = half.config;
      const vecBytes = 4 * (L * (2 * H + (heads + 2 * kvHeads) * headDim) + H);
      expect(half.weights.bytes - vecBytes).toBe((full.weights.bytes - vecBytes) / 2);
      half.destroy();
      full.destroy();
    }
  });
});

/** The reference weights as the GPU stores them at 16 bits: linear and embedding tensors rounded. */
function roundedTo16(w: RefWeights, widen: (h: number) => number, round: (v: Float32Array) => Uint16Array) {
  const kept = /norm|bias/;
  return {
    cfg: w.cfg,
    get: (name: string) =>
      kept.test(name) ? w.get(name) : Float64Array.from(round(Float32Array.from(w.get(name))), widen),
  };
}

describe('stories260K (real pretrained weights)', () => {
  it('greedy decoding from BOS for 200 tokens equals the float64 reference', async () => {
    const gpu = await testGpu();
    const ref = refGreedy(refWeights(await loadCheckpoint(folderSource(STORIES))), [1], 200);
    const m = await loadModel(gpu, folderSource(STORIES), { slots: 1, maxLen: 256, maxRows: 32 });
    const [g] = await noGpuErrors(gpu, () => m.generate([[1]], { maxNewTokens: 200, temperature: 0, eosTokenIds: [] }));
    m.destroy();
    const firstDiff = g.tokenIds.findIndex((t, i) => t !== ref[i]);
    expect(firstDiff, `first differing token index (gpu ${g.tokenIds.slice(0, 20)} ref ${ref.slice(0, 20)})`).toBe(-1);
    expect(g.tokenIds).toHaveLength(200);
    expect(new Set(ref).size).toBeGreaterThan(20); // real text, not a repeated token
  });

  it('converted to bf16 (weights stay 16-bit on the GPU): greedy decoding equals the reference on the bf16 weights', async () => {
    const gpu = await testGpu();
    const ck = await loadCheckpoint(folderSource(STORIES));
    const dir = tmp();
    const tensors: Record<string, TensorToWrite> = {};
    for (const [name, t] of ck.tensors)
      tensors[name] = { dtype: 'BF16', shape: t.shape, data: toBf16Bits(tensorF32(ck, name)) };
    writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors));
    copyFileSync(join(STORIES, 'config.json'), join(dir, 'config.json'));
    const ref = refGreedy(refWeights(await loadCheckpoint(folderSource(dir))), [1], 200);
    const m = await loadModel(gpu, folderSource(dir), { slots: 1, maxLen: 256, maxRows: 32 });
    expect(m.weights.wt).toBe('bf16');
    const [g] = await noGpuErrors(gpu, () => m.generate([[1]], { maxNewTokens: 200, temperature: 0, eosTokenIds: [] }));
    m.destroy();
    const firstDiff = g.tokenIds.findIndex((t, i) => t !== ref[i]);
    expect(firstDiff, `first differing token index (gpu ${g.tokenIds.slice(0, 20)} ref ${ref.slice(0, 20)})`).toBe(-1);
    expect(g.tokenIds).toHaveLength(200);
  });
});
