// The whole-model LoRA gradient check, shared by the test suite and `npm run gpu-check`: GPU
// gradients of loss = Σ coef·logp (fixed random coefficients, some rows masked) against central
// finite differences of the float64 reference with W + (alpha/r)·B·A merged in.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gpu } from '../../src/gpu/device';
import { loadCheckpoint } from '../../src/model/checkpoint';
import { folderSource } from '../../src/model/source-node';
import { chooseWeightType, destroyWeights, uploadWeights } from '../../src/engine/weights';
import { readF32 } from '../../src/gpu/readback';
import { LoraLayout, LoraState, TARGETS } from '../../src/train/lora';
import { TrainGraph } from '../../src/train/graph';
import { rng } from '../../src/rng';
import { refLogits, refWeights } from '../reference/llama';
import { mergedRefWeights } from '../reference/lora';
import { logSoftmax } from '../reference/ops';
import { numericGrad } from '../reference/grad';
import { writeTinyModel } from './tiny-model';
import { refAsQuantized } from './stored-weights';
import type { QuantType } from '../../src/model/quant';

export const MASK = 0xffffffff;

export interface GradComparison {
  what: string; // e.g. "layer 0 q_proj dA"
  got: Float32Array;
  want: Float64Array;
}

/** `dtype`: the checkpoint's dtype; a 16-bit one stays 16-bit on the GPU (packed), and the
 *  reference uses the same 16-bit values. `quantized`: the base stored q8 / q4 instead (QLoRA),
 *  the reference on the dequantized values. */
export async function loraGradientCheck(
  gpu: Gpu,
  type: 'llama' | 'qwen2',
  recompute = true,
  dtype: 'F32' | 'BF16' | 'F16' = 'F32',
  quantized?: QuantType,
): Promise<GradComparison[]> {
  const dir = writeTinyModel(mkdtempSync(join(tmpdir(), 'tpo-grad-')), {
    type,
    seed: 50,
    hidden: 16,
    heads: 2,
    kvHeads: 1,
    intermediate: 24,
    layers: 2,
    vocab: 40,
    dtype,
  });
  const ck = await loadCheckpoint(folderSource(dir));
  const S = 2,
    T = 6,
    N = S * T;
  const layout = new LoraLayout(ck.config, { r: 2, alpha: 4, targets: [...TARGETS] });
  const flat = layout.init(3);
  const rand = rng(51);
  for (const m of layout.modules) for (let i = 0; i < m.B.length; i++) flat[m.B.offset + i] = (rand() * 2 - 1) * 0.3; // B ≠ 0: every gradient non-zero
  const ids = Array.from({ length: N }, () => 1 + Math.floor(rand() * 39));
  // targets: the next token inside each sequence, some positions masked (as a prompt would be)
  const targets = ids.map((_, i) => (i % T === T - 1 || i % T < 2 ? MASK : ids[i + 1]));
  const coef = targets.map((t) => (t === MASK ? 0 : rand() * 2 - 1));

  const weights = uploadWeights(gpu, ck, quantized ?? chooseWeightType(ck));
  if (weights.wt !== (quantized ?? (dtype === 'F32' ? 'f32' : dtype.toLowerCase())))
    throw new Error(`weights stored as ${weights.wt}`);
  const state = new LoraState(gpu.device, layout, flat);
  const graph = new TrainGraph(gpu, ck.config, weights, layout, state, { seqs: S, seqLen: T, recompute });
  graph.writeInputs(new Uint32Array(ids), new Uint32Array(targets));
  gpu.device.queue.writeBuffer(graph.coef, 0, new Float32Array(coef));
  const enc = gpu.device.createCommandEncoder();
  graph.encodeForward(enc, true);
  graph.encodeBackward(enc);
  gpu.device.queue.submit([enc.finish()]);
  const grads = await readF32(gpu.device, state.grads, layout.length);
  graph.destroy();
  state.destroy();
  destroyWeights(weights);

  const base = quantized ? refAsQuantized(refWeights(ck), quantized) : refWeights(ck);
  const theta = Float64Array.from(flat);
  const loss = () => {
    const w = mergedRefWeights(base, layout, theta);
    let s = 0;
    for (let q = 0; q < S; q++) {
      const lg = refLogits(w, ids.slice(q * T, (q + 1) * T));
      for (let p = 0; p < T; p++)
        if (targets[q * T + p] !== MASK) s += coef[q * T + p] * logSoftmax(lg[p])[targets[q * T + p]];
    }
    return s;
  };
  const out: GradComparison[] = [];
  for (const m of layout.modules) {
    for (const which of ['A', 'B'] as const) {
      const v = m[which];
      const view = theta.subarray(v.offset, v.offset + v.length);
      // numericGrad perturbs a copy: write its entries through to theta before each evaluation
      const want = numericGrad((x) => (view.set(x), loss()), view.slice(), 1e-5);
      view.set(flat.subarray(v.offset, v.offset + v.length));
      out.push({
        what: `layer ${m.layer} ${m.target} d${which}`,
        got: grads.subarray(v.offset, v.offset + v.length),
        want,
      });
    }
  }
  return out;
}
