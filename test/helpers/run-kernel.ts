// Runs one WGSL kernel on CPU-provided arrays and reads back chosen bindings.

import { Kernel } from '../../src/gpu/kernel';
import type { ShaderName, WeightType } from '../../src/gpu/shaders';
import { readBuffer } from '../../src/gpu/readback';
import { noGpuErrors, testGpu } from './gpu';

export type Data = Float32Array | Uint32Array | Uint16Array;

export async function runKernel(opts: {
  shader: ShaderName;
  entry?: string;
  wt?: WeightType;
  /** Compile the shader's subgroup code (the device must grant subgroups). */
  subgroups?: boolean;
  constants?: Record<string, number>;
  params: Record<string, number>;
  /** Storage buffers by their WGSL binding names. */
  buffers: Record<string, Data>;
  workgroups: [number, number?, number?];
  /** Names of `buffers` to read back. */
  read: string[];
}): Promise<Float32Array[]> {
  const gpu = await testGpu();
  const dev = gpu.device;
  return noGpuErrors(gpu, async () => {
    const { entry, wt, constants, subgroups } = opts;
    const k = new Kernel(dev, opts.shader, { entry, wt, constants, subgroups });
    const entries = Object.entries(opts.buffers).map(([name, d]) => {
      const b = dev.createBuffer({
        label: name,
        size: Math.max(16, Math.ceil(d.byteLength / 4) * 4),
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      const bytes = new Uint8Array(Math.ceil(d.byteLength / 4) * 4);
      bytes.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      dev.queue.writeBuffer(b, 0, bytes);
      return [name, b] as const;
    });
    const bufs = Object.fromEntries(entries);
    const bg = k.bind(k.uniform(opts.params), bufs);
    const enc = dev.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(k.pipeline);
    pass.setBindGroup(0, bg);
    const [x, y = 1, z = 1] = opts.workgroups;
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    dev.queue.submit([enc.finish()]);
    const out: Float32Array[] = [];
    for (const name of opts.read) {
      out.push(new Float32Array(await readBuffer(dev, bufs[name], opts.buffers[name].byteLength)));
    }
    for (const b of Object.values(bufs)) b.destroy();
    return out;
  });
}
