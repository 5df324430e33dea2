// Merging a LoRA adapter into f32 base weights on the GPU: W ← W + sign·(alpha/r)·B·A
// (sign −1 unmerges). The gemm kernel does it in place, one dispatch per target module.

import { UsageError } from '../errors';
import type { Gpu } from '../gpu/device';
import { gemmKernel } from '../gpu/kernel';
import type { GpuWeights, LayerWeights } from '../engine/weights';
import type { LoraLayout, Target } from './lora';

const FIELD: Record<Target, keyof LayerWeights> = {
  q_proj: 'q',
  k_proj: 'k',
  v_proj: 'v',
  o_proj: 'o',
  gate_proj: 'gate',
  up_proj: 'up',
  down_proj: 'down',
};

export function mergeLora(gpu: Gpu, weights: GpuWeights, layout: LoraLayout, params: GPUBuffer, sign: 1 | -1): void {
  if (weights.wt !== 'f32')
    throw new UsageError(
      'merging needs f32 base weights',
      'Load the model with weightDtype "f32", or generate with the adapter attached instead.',
    );
  const dev = gpu.device;
  const k = gemmKernel(dev, gpu.isSoftware);
  const dummy = dev.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
  const uniforms: GPUBuffer[] = [];
  const enc = dev.createCommandEncoder();
  const pass = enc.beginComputePass();
  const r = layout.lora.r;
  for (const m of layout.modules) {
    const W = weights.layers[m.layer][FIELD[m.target]] as GPUBuffer; // [out, in]
    // C = W [out, in] += alpha·B [out, r] · A [r, in]
    const u = k.uniform({
      M: m.outF,
      Nn: m.inF,
      K: r,
      sAm: r,
      sAk: 1,
      sBk: m.inF,
      sBn: 1,
      ldc: m.inF,
      alpha: sign * layout.scale,
      accumulate: 1,
      aOff: 0,
      cOff: 0,
      hasBias: 0,
    });
    uniforms.push(u);
    const view = (v: { offset: number; length: number }) => ({
      buffer: params,
      offset: v.offset * 4,
      size: v.length * 4,
    });
    pass.setPipeline(k.pipeline);
    pass.setBindGroup(0, k.bind(u, view(m.B), view(m.A), W, dummy));
    pass.dispatchWorkgroups(Math.ceil(m.inF / 32), Math.ceil(m.outF / 32));
  }
  pass.end();
  dev.queue.submit([enc.finish()]);
  void dev.queue.onSubmittedWorkDone().then(() => [...uniforms, dummy].forEach((b) => b.destroy()));
}
