// Merging a LoRA adapter into f32 base weights on the GPU: W ← W + sign·(alpha/r)·B·A
// (sign −1 unmerges). One accumulating gemm per target module, in place.

import { UsageError } from '../errors';
import type { Gpu } from '../gpu/device';
import { Resources } from '../gpu/tape';
import type { GpuWeights } from '../engine/weights';
import { linearWeights } from '../model/block';
import { linearInputGrad } from '../ops/linear';
import type { LoraLayout } from './lora';

export function mergeLora(gpu: Gpu, weights: GpuWeights, layout: LoraLayout, params: GPUBuffer, sign: 1 | -1): void {
  if (weights.wt !== 'f32')
    throw new UsageError(
      'merging needs f32 base weights',
      'Load the model with weightDtype "f32", or generate with the adapter attached instead.',
    );
  const res = new Resources(gpu, { decode: false });
  const t = res.tape();
  const r = layout.lora.r;
  const view = (v: { offset: number; length: number }) => ({
    buffer: params,
    offset: v.offset * 4,
    size: v.length * 4,
  });
  for (const m of layout.modules) {
    const { weight } = linearWeights(weights.layers[m.layer], m.layer, m.target); // [out, in]
    // W [out, in] += s·B [out, r]·A [r, in]: the input-gradient form dx += alpha·dy·W with
    // dy = B (rows = out, r features) and W = A
    const dims = { rows: m.outF, inF: m.inF, outF: r, alpha: sign * layout.scale, accumulate: true };
    linearInputGrad(t, { dinp: weight, dout: view(m.B), weight: view(m.A), ...dims });
  }
  const enc = gpu.device.createCommandEncoder();
  res.record(enc, t.steps, { N: 1, B: 1 });
  gpu.device.queue.submit([enc.finish()]);
  void gpu.device.queue.onSubmittedWorkDone().then(() => res.destroy());
}
