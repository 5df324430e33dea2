// Recording GPU work once and replaying it every step. A Tape is an ordered list of steps
// (dispatches and buffer copies) whose pipelines, uniform buffers and bind groups are all made at
// record time; replaying only records commands. The sizes of a pass (N rows, B outputs) may vary
// between replays: uniforms whose values depend on them are rewritten by `setSizes`.
//
// Tapes made from one Resources share its kernels, buffers and uniforms, so the inference plan,
// a LoRA adapter's steps, a training forward and its backward are separate tapes over one pool.

import { checkBindable, type Gpu } from './device';
import { type Binding, Kernel } from './kernel';
import type { ShaderName, WeightType } from './shaders';

/** The sizes of one pass: N rows (tokens) and B outputs (rows whose head outputs are wanted). */
export interface PassSizes {
  N: number;
  B: number;
}

/** A value fixed at record time, or one computed from the pass's sizes. */
export type Sized<T> = T | ((s: PassSizes) => T);

export type Grid = [number, number?, number?];

/** A dispatch (recorded into a compute pass) or a buffer copy; `lora` marks adapter-only work. */
export type Step = (
  | { kind: 'pass'; name: string; run: (pass: GPUComputePassEncoder, s: PassSizes) => void }
  | { kind: 'copy'; name: string; run: (enc: GPUCommandEncoder, s: PassSizes) => void }
) & {
  lora?: boolean;
  /** A step that replays another tape, chosen at replay time (see Tape.choose). */
  pick?: (s: PassSizes) => Tape;
};

const PROBES: PassSizes[] = [
  { N: 1, B: 1 },
  { N: 2, B: 3 },
  { N: 5, B: 7 },
];

function resolve<T>(v: Sized<T>, s: PassSizes): T {
  return typeof v === 'function' ? (v as (s: PassSizes) => T)(s) : v;
}

/** A size fixed at record time or computed per pass, as a function of the pass's sizes. */
export function sizeOf(v: Sized<number>): (s: PassSizes) => number {
  return (s) => resolve(v, s);
}

/** Kernels, buffers and uniforms shared by the tapes of one plan or graph. */
export class Resources {
  /** Counts recorded dispatches (the benchmark's dispatches per step). */
  dispatches = 0;
  private kernels = new Map<string, Kernel>();
  private owned: GPUBuffer[] = [];
  private sized: { k: Kernel; buf: GPUBuffer; values: (s: PassSizes) => Record<string, number> }[] = [];
  private shared = new Map<string, GPUBuffer>();
  private lastSizes = '';
  private dummyBuf?: GPUBuffer;

  /**
   * `decode`: linear layers of passes with few rows use the matmul's decode entry (inference);
   * otherwise every linear is a gemm (training, whose numerics must not depend on the batch).
   */
  constructor(
    readonly gpu: Gpu,
    readonly opts: { decode: boolean },
  ) {}

  get device(): GPUDevice {
    return this.gpu.device;
  }

  tape(): Tape {
    return new Tape(this);
  }

  /** One pipeline per (shader, entry, weight type, subgroups), made on first use; `subgroups`:
   *  compiled with the shader's subgroup code (only where Gpu.hasSubgroups). */
  kernel(name: ShaderName, entry = 'main', wt: WeightType = 'f32', subgroups = false): Kernel {
    const key = `${name}.${entry}.${wt}${subgroups ? '.subgroups' : ''}`;
    let k = this.kernels.get(key);
    if (!k) this.kernels.set(key, (k = new Kernel(this.device, name, { entry, wt, subgroups })));
    return k;
  }

  /** A storage buffer of `elems` 4-byte elements, owned (destroyed with these resources). */
  buffer(label: string, elems: number): GPUBuffer {
    checkBindable(this.gpu, elems * 4, label);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const b = this.device.createBuffer({ label, size: Math.max(16, elems * 4), usage });
    this.owned.push(b);
    return b;
  }

  /** A one-element buffer bound where a kernel's optional input is absent (e.g. no bias). */
  get dummy(): GPUBuffer {
    this.dummyBuf ??= this.buffer('dummy', 1);
    return this.dummyBuf;
  }

  /**
   * The uniform buffer for these values. Fixed values and size-dependent ones that agree at every
   * size share one buffer; size-dependent ones are rewritten by `setSizes`. `own`: a buffer of
   * its own, which the caller may rewrite (`Kernel.update`) between replays.
   */
  uniform(k: Kernel, values: Sized<Record<string, number>>, own = false): GPUBuffer {
    const fn = typeof values === 'function' ? values : () => values;
    const key = `${k.name}.${k.layout.struct}|${PROBES.map((s) => JSON.stringify(fn(s))).join('|')}`;
    let buf = own ? undefined : this.shared.get(key);
    if (buf) return buf;
    buf = k.uniform(fn(PROBES[0]), k.name);
    this.owned.push(buf);
    if (!own) this.shared.set(key, buf);
    if (typeof values === 'function') {
      this.sized.push({ k, buf, values: fn });
      this.lastSizes = ''; // written for the probe sizes: the next pass rewrites it
    }
    return buf;
  }

  /** Rewrites the size-dependent uniforms when the pass's sizes changed since the last call. */
  setSizes(s: PassSizes): void {
    const key = `${s.N},${s.B}`;
    if (key === this.lastSizes) return;
    for (const u of this.sized) u.k.update(u.buf, u.values(s));
    this.lastSizes = key;
  }

  /** Records steps into `enc`: consecutive dispatches share one compute pass. */
  record(enc: GPUCommandEncoder, steps: Step[], s: PassSizes, label?: string): void {
    this.setSizes(s);
    let pass: GPUComputePassEncoder | null = null;
    for (const step of steps) {
      if (step.kind === 'pass') {
        pass ??= enc.beginComputePass({ label });
        step.run(pass, s);
      } else {
        pass?.end();
        pass = null;
        step.run(enc, s);
      }
    }
    pass?.end();
  }

  /** Bytes of the storage buffers allocated here. */
  get bytes(): number {
    return this.owned.filter((b) => b.usage & GPUBufferUsage.STORAGE).reduce((a, b) => a + b.size, 0);
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
    this.owned = [];
  }
}

/** An ordered list of recorded steps over shared Resources. */
export class Tape {
  readonly steps: Step[] = [];

  constructor(readonly res: Resources) {}

  /**
   * A dispatch of `k` over `grid` workgroups, with its bind group made now: `params` are the
   * uniform's values (a shared uniform), or `{ uniform }`, a buffer the caller made and rewrites.
   */
  dispatch(
    name: string,
    k: Kernel,
    params: Sized<Record<string, number>> | { uniform: GPUBuffer },
    buffers: Record<string, Binding>,
    grid: Sized<Grid>,
  ): void {
    const uniform = 'uniform' in params ? (params.uniform as GPUBuffer) : this.res.uniform(k, params);
    const bg = k.bind(uniform, buffers);
    this.steps.push({
      kind: 'pass',
      name,
      run: (pass, s) => {
        const [x, y = 1, z = 1] = resolve(grid, s);
        pass.setPipeline(k.pipeline);
        pass.setBindGroup(0, bg);
        pass.dispatchWorkgroups(x, y, z);
        this.res.dispatches++;
      },
    });
  }

  /** A step that picks one of several recorded alternatives at replay time (e.g. by row count). */
  choose(name: string, pick: (s: PassSizes) => Tape): void {
    this.steps.push({
      kind: 'pass',
      name,
      pick,
      run: (pass, s) => {
        for (const st of pick(s).steps) if (st.kind === 'pass') st.run(pass, s);
      },
    });
  }

  /** dst[0, bytes) ← src[0, bytes). */
  copy(name: string, src: GPUBuffer, dst: GPUBuffer, bytes: Sized<number>): void {
    this.steps.push({ kind: 'copy', name, run: (enc, s) => enc.copyBufferToBuffer(src, 0, dst, 0, resolve(bytes, s)) });
  }

  /** Appends another tape's steps (marked adapter-only with `lora`). */
  append(other: Tape, lora = false): void {
    this.steps.push(...(lora ? other.steps.map((s) => ({ ...s, lora: true })) : other.steps));
  }
}

/** The steps that a replay at sizes `s` runs, chosen steps expanded (e.g. one pass each for profiling). */
export function flatten(steps: Step[], s: PassSizes): Step[] {
  return steps.flatMap((st) => (st.pick ? flatten(st.pick(s).steps, s) : [st]));
}

/** Workgroups for one per row, split over y when past the 65,535 limit of one dimension. */
export function rowsGrid(n: number): Grid {
  return [Math.min(n, 65535), Math.ceil(n / 65535)];
}

/**
 * A per-row kernel's entry for this adapter and its grid: `entry` with one workgroup a row, or on
 * software adapters `<entry>_serial` with one thread a row (no workgroup barriers, which a CPU
 * emulates at great cost), 64 rows a workgroup.
 */
export function rowKernel(t: Tape, shader: ShaderName, entry: string) {
  const software = t.res.gpu.isSoftware;
  const k = t.res.kernel(shader, software ? `${entry}_serial` : entry);
  return { k, grid: (rows: number): Grid => (software ? elementsGrid(rows, 64) : rowsGrid(rows)) };
}

/** Workgroups covering n elements at `perGroup` each, split over y past 65,535. */
export function elementsGrid(n: number, perGroup: number): Grid {
  const groups = Math.ceil(n / perGroup);
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x)];
}

/**
 * A decode kernel (an output per workgroup, N ≤ 16 rows) for this adapter: on software adapters
 * `<entry>_serial`, one thread an output and 64 outputs a workgroup; on GPUs `entry`, compiled with
 * the shader's subgroup reduction where the device grants subgroups.
 */
export function decodeKernel(t: Tape, shader: ShaderName, entry: string, wt: WeightType) {
  const { isSoftware, hasSubgroups } = t.res.gpu;
  if (isSoftware) return { k: t.res.kernel(shader, `${entry}_serial`, wt), perGroup: 64 };
  return { k: t.res.kernel(shader, entry, wt, hasSubgroups), perGroup: 1 };
}
