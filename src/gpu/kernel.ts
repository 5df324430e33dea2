// A compute kernel: one pipeline (created once) plus helpers to make its uniform buffers and
// bind groups. Bind groups are made once per (kernel, buffers) pairing and reused every step.

import { shaderSource, type ShaderName, type WeightType } from './shaders';
import { packUniform, uniformLayout, type UniformLayout } from './uniforms';

export class Kernel {
  readonly pipeline: GPUComputePipeline;
  readonly layout: UniformLayout;
  /** Explicit (not 'auto'), so variants of one shader share bind groups. */
  readonly bindLayout: GPUBindGroupLayout;
  private readonly bindings: Set<number>;

  constructor(
    readonly device: GPUDevice,
    readonly name: ShaderName,
    opts: { entry?: string; wt?: WeightType; constants?: Record<string, number> } = {},
  ) {
    const code = shaderSource(name, opts.wt);
    const module = device.createShaderModule({ label: name, code });
    const entry = opts.entry ?? 'main';
    const iface = entryInterface(code, entry);
    this.bindLayout = device.createBindGroupLayout({ label: `${name}.${entry}`, entries: iface.bindings });
    this.bindings = new Set(iface.bindings.map((b) => b.binding));
    this.pipeline = device.createComputePipeline({
      label: `${name}${opts.wt === 'f16' ? '.f16' : ''}`,
      layout: device.createPipelineLayout({ bindGroupLayouts: [this.bindLayout] }),
      compute: { module, entryPoint: entry, constants: opts.constants },
    });
    this.layout = uniformLayout(code, iface.paramsStruct);
  }

  /** A uniform buffer holding these params (sizes fixed for the buffer's life). */
  uniform(values: Record<string, number>, label: string = this.name): GPUBuffer {
    const buf = this.device.createBuffer({
      label: `${label}.params`,
      size: this.layout.size,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.device.queue.writeBuffer(buf, 0, packUniform(this.layout, values));
    return buf;
  }

  /** Rewrites a uniform buffer made by `uniform` (queued before the next submit). */
  update(buf: GPUBuffer, values: Record<string, number>): void {
    this.device.queue.writeBuffer(buf, 0, packUniform(this.layout, values));
  }

  /**
   * Bind group for binding 0 = params, then the storage buffers in binding order. A binding may
   * be a whole buffer or a {buffer, offset, size} view (offsets 256-byte aligned).
   */
  bind(params: GPUBuffer, ...buffers: (GPUBuffer | GPUBufferBinding)[]): GPUBindGroup {
    return this.device.createBindGroup({
      label: this.name,
      layout: this.bindLayout,
      entries: [params, ...buffers]
        .map((b, binding) => ({ binding, resource: 'buffer' in b ? b : { buffer: b } }))
        .filter((e) => this.bindings.has(e.binding)), // slots this entry point does not use
    });
  }
}

/**
 * The resources one entry point uses, read off the WGSL: the module-scope `@binding` variables
 * named in the entry function or in any function it calls, and the struct type of its uniform.
 * (Forward and backward entries of one file may bind different variables at the same slot.)
 */
export function entryInterface(
  code: string,
  entry: string,
): { bindings: GPUBindGroupLayoutEntry[]; paramsStruct: string } {
  const fns = new Map<string, string>();
  for (const m of code.matchAll(/\bfn\s+(\w+)\s*\(/g)) {
    let i = code.indexOf('{', m.index);
    let depth = 0;
    for (; i < code.length; i++) {
      if (code[i] === '{') depth++;
      else if (code[i] === '}' && --depth === 0) break;
    }
    fns.set(m[1], code.slice(m.index, i + 1));
  }
  if (!fns.has(entry)) throw new Error(`entry point ${entry} not found in shader`);
  const used = new Set<string>();
  const todo = [entry];
  while (todo.length) {
    const f = todo.pop()!;
    if (used.has(f)) continue;
    used.add(f);
    for (const id of fns.get(f)!.matchAll(/\b(\w+)\s*\(/g)) if (fns.has(id[1]) && !used.has(id[1])) todo.push(id[1]);
  }
  const text = [...used].map((f) => fns.get(f)!).join('\n');
  const idents = new Set(text.match(/(?<![.\w])\w+/g) ?? []); // not member accesses like wg.x
  // Uses are found by name, so a local may not shadow a binding: refuse instead of guessing.
  const bindingNames = new Set([...code.matchAll(/@binding\(\d+\)\s*var<[^>]+>\s*(\w+)/g)].map((m) => m[1]));
  for (const d of text.matchAll(/\b(?:let|var|const)\s+(\w+)|\b(\w+)\s*:\s*(?:u32|f32|i32|vec\d<\w+>)\s*[,)]/g)) {
    const name = d[1] ?? d[2];
    if (bindingNames.has(name))
      throw new Error(`shader entry ${entry}: local "${name}" shadows a binding of the same name; rename it`);
  }
  const bindings: GPUBindGroupLayoutEntry[] = [];
  let paramsStruct = 'Params';
  const re =
    /@group\(0\)\s*@binding\((\d+)\)\s*var<(uniform|storage,\s*read_write|storage,\s*read|storage)>\s*(\w+)\s*:\s*(\w+)/g;
  for (const m of code.matchAll(re)) {
    if (!idents.has(m[3])) continue;
    const type: GPUBufferBindingType =
      m[2] === 'uniform' ? 'uniform' : m[2].includes('read_write') ? 'storage' : 'read-only-storage';
    if (type === 'uniform') paramsStruct = m[4];
    bindings.push({ binding: Number(m[1]), visibility: GPUShaderStage.COMPUTE, buffer: { type } });
  }
  return { bindings: bindings.sort((a, b) => a.binding - b.binding), paramsStruct };
}

export function dispatch(pass: GPUComputePassEncoder, k: Kernel, bg: GPUBindGroup, x: number, y = 1, z = 1): void {
  pass.setPipeline(k.pipeline);
  pass.setBindGroup(0, bg);
  pass.dispatchWorkgroups(x, y, z);
}

/** The gemm: 32×32 tiles through workgroup memory on GPUs; on software adapters (where barriers
 *  and workgroup memory are emulated at great cost) the barrier-free `serial` entry, same grid. */
export function gemmKernel(dev: GPUDevice, software: boolean, wt?: WeightType): Kernel {
  return new Kernel(dev, 'gemm', { wt, entry: software ? 'serial' : 'main' });
}

/** An attention entry (forward or backward_q) and the y extent of its [nH, y] grid for N rows:
 *  a workgroup per (head, row) on GPUs, a thread per (head, row) on software adapters. */
export function attentionKernel(
  dev: GPUDevice,
  software: boolean,
  entry: 'forward' | 'backward_q',
): { kernel: Kernel; groupsFor: (N: number) => number } {
  return software
    ? { kernel: new Kernel(dev, 'attention', { entry: `${entry}_serial` }), groupsFor: (N) => Math.ceil(N / 64) }
    : { kernel: new Kernel(dev, 'attention', { entry }), groupsFor: (N) => N };
}
