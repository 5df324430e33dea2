// Whole-model checks against the float64 reference: logits of random tiny Llama and Qwen2 models
// (f32, bf16, f16, sharded, untied, split embeddings), and greedy decoding of the real stories260K.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/model/checkpoint';
import { folderSource } from '../src/model/source-node';
import { loadModel } from '../src/engine/model';
import { refGreedy, refLogits, refWeights } from './reference/llama';
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
  it('f16 weight storage on the GPU (shader-f16)', async (ctx) => {
    const gpu = await testGpu();
    if (!gpu.hasF16) ctx.skip(); // SwiftShader has no shader-f16; runs on real GPUs
    await checkLogits({ type: 'llama', seed: 7, dtype: 'F16' }, { rtol: 2e-2, atol: 2e-2 }, { weightDtype: 'f16' });
  });
});

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
});
