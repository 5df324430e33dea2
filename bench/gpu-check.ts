// `node dist-cli/gpu-check.js`: the engine's key correctness checks on a hardware adapter, for a
// GPU machine that has no test runner (CI runs the full suite on SwiftShader, which lacks
// shader-f16 and takes the serial decode matmul). Prints one PASS/FAIL line per check.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliGpu } from '../src/cli/gpu';
import { DEFAULT_MODEL_DIR } from '../src/cli/model-arg';
import type { Gpu } from '../src/gpu/device';
import { readF32 } from '../src/gpu/readback';
import { loadModel, type LoadOptions } from '../src/engine/model';
import { loadCheckpoint } from '../src/model/checkpoint';
import { folderSource } from '../src/model/source-node';
import { refGreedy, refLogits, refWeights } from '../test/reference/llama';
import { expectClose } from '../test/helpers/compare';
import { writeTinyModel, type TinyOptions } from '../test/helpers/tiny-model';
import { mergedRefWeights } from '../test/reference/lora';
import { logSoftmax } from '../test/reference/ops';
import { uploadWeights, destroyWeights } from '../src/engine/weights';
import { LoraLayout, LoraState, TARGETS } from '../src/train/lora';
import { TrainGraph } from '../src/train/graph';

/** LoRA gradients of the whole training graph vs float64 central differences (every parameter). */
async function gradCheck(gpu: Gpu, type: 'llama' | 'qwen2'): Promise<string> {
  const dir = writeTinyModel(mkdtempSync(join(tmpdir(), 'tpo-check-')), { type, seed: 50, hidden: 16, heads: 2, kvHeads: 1, intermediate: 24, layers: 2, vocab: 40 });
  const ck = await loadCheckpoint(folderSource(dir));
  const S = 2, T = 6, N = S * T, MASK = 0xffffffff;
  const layout = new LoraLayout(ck.config, { r: 2, alpha: 4, targets: [...TARGETS] });
  const flat = layout.init(3);
  for (const m of layout.modules) for (let i = 0; i < m.B.length; i++) flat[m.B.offset + i] = Math.sin(i + m.layer) * 0.3;
  const ids = Array.from({ length: N }, (_, i) => 1 + ((i * 13) % 39));
  const targets = ids.map((_, i) => (i % T === T - 1 || i % T < 2 ? MASK : ids[i + 1]));
  const coef = targets.map((t, i) => (t === MASK ? 0 : Math.cos(i)));
  const weights = uploadWeights(gpu, ck, 'f32');
  const state = new LoraState(gpu.device, layout, flat);
  const graph = new TrainGraph(gpu, ck.config, weights, layout, state, { seqs: S, seqLen: T });
  gpu.device.queue.writeBuffer(graph.ids, 0, new Uint32Array(ids));
  gpu.device.queue.writeBuffer(graph.targets, 0, new Uint32Array(targets));
  gpu.device.queue.writeBuffer(graph.coef, 0, new Float32Array(coef));
  const enc = gpu.device.createCommandEncoder();
  graph.encodeForward(enc, true);
  graph.encodeBackward(enc);
  gpu.device.queue.submit([enc.finish()]);
  const grads = await readF32(gpu.device, state.grads, layout.length);
  graph.destroy();
  state.destroy();
  destroyWeights(weights);
  const base = refWeights(ck);
  const loss = (theta: Float64Array) => {
    const w = mergedRefWeights(base, layout, theta);
    let s = 0;
    for (let q = 0; q < S; q++) {
      const lg = refLogits(w, ids.slice(q * T, (q + 1) * T));
      for (let p = 0; p < T; p++) if (targets[q * T + p] !== MASK) s += coef[q * T + p] * logSoftmax(lg[p])[targets[q * T + p]];
    }
    return s;
  };
  const theta = Float64Array.from(flat), want = new Float64Array(layout.length), h = 1e-5;
  for (const m of layout.modules) for (const v of [m.A, m.B]) for (let i = v.offset; i < v.offset + v.length; i++) {
    const x0 = theta[i];
    theta[i] = x0 + h; const fp = loss(theta);
    theta[i] = x0 - h; const fm = loss(theta);
    theta[i] = x0;
    want[i] = (fp - fm) / (2 * h);
  }
  return `max abs diff ${expectClose('LoRA grads', grads, want, 2e-3, 2e-5).maxAbs.toExponential(2)} over ${layout.modules.length * 2} tensors`;
}

async function logitsCheck(gpu: Gpu, o: TinyOptions, opts: LoadOptions, tol: number, T: number): Promise<string> {
  const dir = writeTinyModel(mkdtempSync(join(tmpdir(), 'tpo-check-')), o);
  const tokens = Array.from({ length: T }, (_, i) => (i * 7 + 1) % 64);
  const want = refLogits(refWeights(await loadCheckpoint(folderSource(dir))), tokens);
  const m = await loadModel(gpu, folderSource(dir), { slots: 1, maxLen: 64, maxRows: 64, maxOut: 64, ...opts });
  const f = m.forward, dev = gpu.device, V = m.config.vocab;
  dev.queue.writeBuffer(f.ids, 0, new Uint32Array(tokens));
  dev.queue.writeBuffer(f.rows, 0, new Uint32Array(tokens.flatMap((_, p) => [0, p])));
  dev.queue.writeBuffer(f.lastIdx, 0, new Uint32Array(tokens.map((_, i) => i)));
  const enc = dev.createCommandEncoder();
  f.encode(enc, T, T, false);
  dev.queue.submit([enc.finish()]);
  const got = await readF32(dev, f.logits, T * V);
  m.destroy();
  let worst = 0;
  tokens.forEach((_, t) => (worst = Math.max(worst, expectClose(`position ${t}`, got.subarray(t * V, (t + 1) * V), want[t], tol, tol).maxAbs)));
  return `max abs diff ${worst.toExponential(2)}`;
}

export async function main(): Promise<number> {
  const gpu = await cliGpu(process.argv.slice(1));
  if (typeof gpu === 'number') return gpu;
  console.log(`adapter: ${gpu.adapterName}, shader-f16: ${gpu.hasF16}, software: ${gpu.isSoftware}`);
  let failed = 0;
  const check = async (name: string, fn: () => Promise<string>) => {
    try {
      console.log(`PASS ${name}: ${await fn()}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}: ${(e as Error).message}`);
    }
  };
  for (const type of ['llama', 'qwen2'] as const) {
    await check(`${type} f32 logits, tiled prefill (T=40)`, () => logitsCheck(gpu, { type, seed: 3 }, {}, 1e-4, 40));
    await check(`${type} f32 logits, decode matmul (T=12)`, () => logitsCheck(gpu, { type, seed: 4, tie: false }, {}, 1e-4, 12));
    if (gpu.hasF16) await check(`${type} f16 weights (T=20)`, () => logitsCheck(gpu, { type, seed: 5, dtype: 'F16' }, { weightDtype: 'f16' }, 2e-2, 20));
  }
  for (const type of ['llama', 'qwen2'] as const) await check(`${type} training graph: LoRA grads = finite differences`, () => gradCheck(gpu, type));
  await check('stories260K greedy 200 tokens = float64 reference', async () => {
    const ref = refGreedy(refWeights(await loadCheckpoint(folderSource(DEFAULT_MODEL_DIR))), [1], 200);
    const m = await loadModel(gpu, folderSource(DEFAULT_MODEL_DIR), { slots: 1, maxLen: 256 });
    const [g] = await m.generate([[1]], { maxNewTokens: 200, temperature: 0, eosTokenIds: [] });
    m.destroy();
    const d = g.tokenIds.findIndex((t, i) => t !== ref[i]);
    if (d >= 0 || g.tokenIds.length !== 200) throw new Error(`first difference at token ${d}`);
    return '200/200 tokens equal';
  });
  await check('stories260K batch of 8 (sampled) = one at a time', async () => {
    const prompts = Array.from({ length: 8 }, (_, i) => [1, 10 + i * 13, 20 + i]);
    const a = await loadModel(gpu, folderSource(DEFAULT_MODEL_DIR), { slots: 8, maxLen: 128 });
    const batch = await a.generate(prompts, { maxNewTokens: 40, temperature: 0.8, topP: 0.95, seed: 3, eosTokenIds: [] });
    a.destroy();
    const b = await loadModel(gpu, folderSource(DEFAULT_MODEL_DIR), { slots: 1, maxLen: 128 });
    for (let i = 0; i < 8; i++) {
      const [one] = await b.generate([prompts[i]], { maxNewTokens: 40, temperature: 0.8, topP: 0.95, seeds: [3 + i], eosTokenIds: [] });
      if (one.tokenIds.join() !== batch[i].tokenIds.join()) throw new Error(`sequence ${i} differs`);
    }
    b.destroy();
    return '8/8 sequences equal';
  });
  console.log(failed ? `${failed} check(s) failed` : 'all checks passed');
  return failed ? 1 : 0;
}
