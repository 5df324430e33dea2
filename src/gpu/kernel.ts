// A compute kernel: one pipeline (created once) plus helpers to make its uniform buffers and
// bind groups. Bind groups are made once per (kernel, buffers) pairing and reused every step.

import { shaderSource, type ShaderName, type WeightType } from './shaders';
import { packUniform, uniformLayout, type UniformLayout } from './uniforms';

export class Kernel {
  readonly pipeline: GPUComputePipeline;
  readonly layout: UniformLayout;
  /** Explicit (not 'auto'), so variants of one shader share bind groups. */
  readonly bindLayout: GPUBindGroupLayout;

  constructor(
    readonly device: GPUDevice,
    readonly name: ShaderName,
    opts: { entry?: string; wt?: WeightType; constants?: Record<string, number> } = {},
  ) {
    const code = shaderSource(name, opts.wt);
    const module = device.createShaderModule({ label: name, code });
    this.bindLayout = device.createBindGroupLayout({ label: name, entries: bindingsOf(code) });
    this.pipeline = device.createComputePipeline({
      label: `${name}${opts.wt === 'f16' ? '.f16' : ''}`,
      layout: device.createPipelineLayout({ bindGroupLayouts: [this.bindLayout] }),
      compute: { module, entryPoint: opts.entry ?? 'main', constants: opts.constants },
    });
    this.layout = uniformLayout(code);
  }

  /** A uniform buffer holding these params (sizes fixed for the buffer's life). */
  uniform(values: Record<string, number>, label: string = this.name): GPUBuffer {
    const buf = this.device.createBuffer({ label: `${label}.params`, size: this.layout.size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.device.queue.writeBuffer(buf, 0, packUniform(this.layout, values));
    return buf;
  }

  /** Rewrites a uniform buffer made by `uniform` (queued before the next submit). */
  update(buf: GPUBuffer, values: Record<string, number>): void {
    this.device.queue.writeBuffer(buf, 0, packUniform(this.layout, values));
  }

  /** Bind group for binding 0 = params, then the storage buffers in binding order. */
  bind(params: GPUBuffer, ...buffers: GPUBuffer[]): GPUBindGroup {
    return this.device.createBindGroup({
      label: this.name,
      layout: this.bindLayout,
      entries: [params, ...buffers].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  }
}

/** Bind group layout entries read off the WGSL declarations of group 0. */
export function bindingsOf(code: string): GPUBindGroupLayoutEntry[] {
  const re = /@group\(0\)\s*@binding\((\d+)\)\s*var<(uniform|storage,\s*read_write|storage,\s*read|storage)>/g;
  const out: GPUBindGroupLayoutEntry[] = [];
  for (const m of code.matchAll(re)) {
    const type: GPUBufferBindingType = m[2] === 'uniform' ? 'uniform' : m[2].includes('read_write') ? 'storage' : 'read-only-storage';
    out.push({ binding: Number(m[1]), visibility: GPUShaderStage.COMPUTE, buffer: { type } });
  }
  return out.sort((a, b) => a.binding - b.binding);
}

export function dispatch(pass: GPUComputePassEncoder, k: Kernel, bg: GPUBindGroup, x: number, y = 1, z = 1): void {
  pass.setPipeline(k.pipeline);
  pass.setBindGroup(0, bg);
  pass.dispatchWorkgroups(x, y, z);
}
