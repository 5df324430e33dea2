// A compute kernel: one pipeline (created once) plus helpers to make its uniform buffers and
// bind groups. Bind groups are made once per (kernel, buffers) pairing and reused every step.
// Buffers are bound by the names the WGSL gives them; each binding's shape comment (`// [N, H]`)
// is checked against the uniform's values when the bind group is made.

import { shaderSource, type ShaderName, type WeightType } from './shaders';
import { packUniform, uniformLayout, type UniformLayout } from './uniforms';

/** A whole buffer or a {buffer, offset, size} view of one (offsets 256-byte aligned). */
export type Binding = GPUBuffer | GPUBufferBinding;

/** One `@binding` variable of an entry point, as read off the WGSL. */
export interface BindingInfo {
  binding: number;
  name: string;
  type: GPUBufferBindingType;
  /** Bytes per array element (or of the whole variable when it is not an array). */
  elemBytes: number;
  /** Dimensions from the `// [A, B/2]` comment, when it has one. */
  shape?: string[];
  /** `(… dummy when X = 0)`: the size is not checked while uniform field X is 0. */
  dummyWhen?: string;
}

/** The values each uniform buffer holds (uniforms may be shared by kernels of one struct),
 *  for the shape checks in `bind`. */
const uniformValues = new WeakMap<GPUBuffer, Record<string, number>>();

export class Kernel {
  readonly pipeline: GPUComputePipeline;
  readonly layout: UniformLayout;
  /** Explicit (not 'auto'), so variants of one shader share bind groups. */
  readonly bindLayout: GPUBindGroupLayout;
  readonly entry: string;
  readonly bindings: BindingInfo[];

  constructor(
    readonly device: GPUDevice,
    readonly name: ShaderName,
    /** `subgroups`: the shader's subgroup code (the device must have the feature: Gpu.hasSubgroups). */
    opts: { entry?: string; wt?: WeightType; constants?: Record<string, number>; subgroups?: boolean } = {},
  ) {
    this.entry = opts.entry ?? 'main';
    const code = shaderSource(name, opts.wt, opts.subgroups);
    const module = device.createShaderModule({ label: name, code });
    const iface = entryInterface(code, this.entry);
    this.bindings = iface.bindings;
    this.bindLayout = device.createBindGroupLayout({
      label: `${name}.${this.entry}`,
      entries: iface.bindings.map((b) => ({
        binding: b.binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: b.type },
      })),
    });
    this.pipeline = device.createComputePipeline({
      label: `${name}${opts.wt && opts.wt !== 'f32' ? `.${opts.wt}` : ''}${opts.subgroups ? '.subgroups' : ''}`,
      layout: device.createPipelineLayout({ bindGroupLayouts: [this.bindLayout] }),
      compute: { module, entryPoint: this.entry, constants: opts.constants },
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
    this.update(buf, values);
    return buf;
  }

  /** Rewrites a uniform buffer made by `uniform` (queued before the next submit). */
  update(buf: GPUBuffer, values: Record<string, number>): void {
    this.device.queue.writeBuffer(buf, 0, packUniform(this.layout, values));
    uniformValues.set(buf, values);
  }

  /**
   * Bind group for the uniform `params` and the storage buffers named as in the WGSL. A missing
   * or unknown name, or a buffer smaller than its binding's shape for these params, throws.
   */
  bind(params: GPUBuffer, buffers: Record<string, Binding>): GPUBindGroup {
    const where = `kernel ${this.name}.${this.entry}`;
    const known = new Set(this.bindings.map((b) => b.name));
    for (const name of Object.keys(buffers)) {
      if (!known.has(name)) throw new Error(`${where}: no binding named "${name}" (it has ${[...known].join(', ')})`);
    }
    const values = uniformValues.get(params);
    const entries = this.bindings.map((b) => {
      if (b.type === 'uniform') return { binding: b.binding, resource: { buffer: params } };
      const res = buffers[b.name];
      if (!res) throw new Error(`${where}: binding "${b.name}" is missing`);
      const view = 'buffer' in res ? res : { buffer: res };
      checkSize(where, b, view, values);
      return { binding: b.binding, resource: view };
    });
    return this.device.createBindGroup({ label: `${this.name}.${this.entry}`, layout: this.bindLayout, entries });
  }
}

/** Throws when a bound buffer (or view) holds fewer bytes than the binding's shape needs. */
function checkSize(where: string, b: BindingInfo, view: GPUBufferBinding, values?: Record<string, number>): void {
  const bytes = view.size ?? view.buffer.size - (view.offset ?? 0);
  if (bytes < b.elemBytes) throw new Error(`${where}: binding "${b.name}" is bound to ${bytes} bytes`);
  if (!b.shape || !values || (b.dummyWhen && values[b.dummyWhen] === 0)) return;
  const dims = b.shape.map((d) => evalDim(d, values));
  if (dims.some((d) => d === undefined)) return; // a dimension the uniform does not carry
  const need = dims.reduce((a: number, d) => a * d!, b.elemBytes);
  if (bytes < need) {
    const shape = b.shape.map((d, i) => `${d}=${dims[i]}`).join(', ');
    throw new Error(`${where}: binding "${b.name}" [${shape}] needs ${need} bytes, got a buffer of ${bytes}`);
  }
}

/** Evaluates a shape dimension such as `H`, `hd/2`, `U + 1` or `4`; undefined if a name is unknown. */
export function evalDim(dim: string, values: Record<string, number>): number | undefined {
  const terms = dim.replace(/\s+/g, '').split(/(?=[+])/);
  let sum = 0;
  for (const term of terms) {
    const parts = term.replace(/^\+/, '').split(/([*/])/);
    let v = operand(parts[0], values);
    for (let i = 1; i < parts.length; i += 2) {
      const w = operand(parts[i + 1], values);
      if (v === undefined || w === undefined) return undefined;
      v = parts[i] === '*' ? v * w : Math.floor(v / w);
    }
    if (v === undefined) return undefined;
    sum += v;
  }
  return sum;
}

function operand(s: string, values: Record<string, number>): number | undefined {
  if (/^\d+$/.test(s)) return Number(s);
  return /^\w+$/.test(s) ? values[s] : undefined;
}

/**
 * The resources one entry point uses, read off the WGSL: the module-scope `@binding` variables
 * named in the entry function or in any function it calls, and the struct type of its uniform.
 * (Forward and backward entries of one file may bind different variables at the same slot.)
 */
export function entryInterface(code: string, entry: string): { bindings: BindingInfo[]; paramsStruct: string } {
  const text = entryText(code, entry);
  const idents = new Set(text.match(/(?<![.\w])\w+/g) ?? []); // not member accesses like wg.x
  // Uses are found by name, so a local may not shadow a binding: refuse instead of guessing.
  const bindingNames = new Set([...code.matchAll(/@binding\(\d+\)\s*var<[^>]+>\s*(\w+)/g)].map((m) => m[1]));
  const decls = /\b(?:let|var|const)\s+(\w+)|\b(\w+)\s*:\s*(?:u32|f32|i32|vec\d<\w+>)\s*[,)]/g;
  for (const d of text.matchAll(decls)) {
    const name = d[1] ?? d[2];
    if (bindingNames.has(name)) {
      throw new Error(`shader entry ${entry}: local "${name}" shadows a binding of the same name; rename it`);
    }
  }
  const bindings: BindingInfo[] = [];
  let paramsStruct = 'Params';
  const space = 'uniform|storage,\\s*read_write|storage,\\s*read|storage';
  // @group(0) @binding(slot) var<space> name: type; // comment
  const re = new RegExp(
    `@group\\(0\\)\\s*@binding\\((\\d+)\\)\\s*var<(${space})>\\s*(\\w+)\\s*:\\s*([^;]+);([^\\n]*)`,
    'g',
  );
  for (const m of code.matchAll(re)) {
    const [, slot, space, name, type, comment] = m;
    if (!idents.has(name)) continue;
    const kind: GPUBufferBindingType =
      space === 'uniform' ? 'uniform' : space.includes('read_write') ? 'storage' : 'read-only-storage';
    if (kind === 'uniform') paramsStruct = type.trim();
    const shape = /\/\/\s*\[([^\]]+)\]/
      .exec(comment)?.[1]
      .split(',')
      .map((s) => s.trim());
    const dummyWhen = /dummy when (\w+) = 0/.exec(comment)?.[1];
    bindings.push({ binding: Number(slot), name, type: kind, elemBytes: elementBytes(code, type), shape, dummyWhen });
  }
  return { bindings: bindings.sort((a, b) => a.binding - b.binding), paramsStruct };
}

/** The text of an entry function and of every function it calls. */
function entryText(code: string, entry: string): string {
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
    const f = todo.pop() as string;
    if (used.has(f)) continue;
    used.add(f);
    for (const id of (fns.get(f) as string).matchAll(/\b(\w+)\s*\(/g)) {
      if (fns.has(id[1]) && !used.has(id[1])) todo.push(id[1]);
    }
  }
  return [...used].map((f) => fns.get(f)).join('\n');
}

/** Bytes of one element of a binding's type: `array<T>` → T; f16 → 2; a struct of scalars → 4 per field. */
function elementBytes(code: string, type: string): number {
  const el = (/^array<\s*(\w+)/.exec(type.trim())?.[1] ?? type.trim()).trim();
  if (el === 'f16') return 2;
  if (el === 'WT') {
    const q = /const WEIGHT_BLOCK_WORDS: u32 = (\d+)u;/.exec(code); // quantized: a block of words per 64 weights
    if (q) return (4 * Number(q[1])) / 64;
    return /const PACK: u32 = 2u;/.test(code) ? 2 : 4; // packed 16-bit weights: 2 bytes each
  }
  const struct = new RegExp(`struct\\s+${el}\\s*\\{([^}]*)\\}`).exec(code);
  if (struct) return 4 * struct[1].split(',').filter((s) => s.trim()).length;
  return 4;
}
