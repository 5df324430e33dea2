// LoRA adapters: y = W·x + (alpha/r)·B(A·x), A [r, in], B [out, r] (PEFT's shapes and names).
// All A and B tensors live back to back in one flat f32 buffer (each 256-byte aligned so it can
// be bound on its own), with matching flat buffers for gradients and AdamW moments: the
// optimizer and the gradient norm are one dispatch each.

import type { ModelConfig } from '../model/config';
import { UsageError } from '../errors';
import { rng } from '../rng';

export const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type Target = (typeof TARGETS)[number];

export interface LoraConfig {
  r: number;
  alpha: number;
  targets: Target[];
}

export const DEFAULT_LORA: LoraConfig = { r: 16, alpha: 32, targets: [...TARGETS] };

/** A tensor inside the flat buffer: `offset` and `length` in floats. */
export interface FlatView {
  offset: number;
  length: number;
}

export interface LoraModule {
  layer: number;
  target: Target;
  inF: number;
  outF: number;
  A: FlatView; // [r, inF]
  B: FlatView; // [outF, r]
}

/** in/out features of a target module ([out, in] as the base weight is stored). */
export function moduleDims(cfg: ModelConfig, t: Target): { inF: number; outF: number } {
  const q = cfg.heads * cfg.headDim,
    kv = cfg.kvHeads * cfg.headDim;
  switch (t) {
    case 'q_proj':
      return { inF: cfg.hidden, outF: q };
    case 'k_proj':
    case 'v_proj':
      return { inF: cfg.hidden, outF: kv };
    case 'o_proj':
      return { inF: q, outF: cfg.hidden };
    case 'gate_proj':
    case 'up_proj':
      return { inF: cfg.hidden, outF: cfg.intermediate };
    case 'down_proj':
      return { inF: cfg.intermediate, outF: cfg.hidden };
  }
}

export function peftName(layer: number, t: Target, which: 'A' | 'B'): string {
  const block = t === 'gate_proj' || t === 'up_proj' || t === 'down_proj' ? 'mlp' : 'self_attn';
  return `base_model.model.model.layers.${layer}.${block}.${t}.lora_${which}.weight`;
}

/** Where every A and B sits in the flat buffer, and its total length (floats). */
export class LoraLayout {
  readonly modules: LoraModule[] = [];
  readonly length: number;
  readonly scale: number;
  private byKey = new Map<string, LoraModule>();

  constructor(
    readonly cfg: ModelConfig,
    readonly lora: LoraConfig,
  ) {
    if (!Number.isInteger(lora.r) || lora.r < 1) throw new UsageError(`LoRA rank ${lora.r} must be a positive integer`);
    if (!(lora.alpha > 0)) throw new UsageError(`LoRA alpha ${lora.alpha} must be positive`);
    for (const t of lora.targets)
      if (!TARGETS.includes(t))
        throw new UsageError(`unknown LoRA target module "${t}"`, `Choose from ${TARGETS.join(', ')}.`);
    this.scale = lora.alpha / lora.r;
    let off = 0;
    const take = (n: number): FlatView => {
      const v = { offset: off, length: n };
      off += Math.ceil(n / 64) * 64; // 256-byte alignment for binding offsets
      return v;
    };
    for (let layer = 0; layer < cfg.layers; layer++) {
      for (const target of TARGETS) {
        if (!lora.targets.includes(target)) continue;
        const { inF, outF } = moduleDims(cfg, target);
        const m = { layer, target, inF, outF, A: take(lora.r * inF), B: take(outF * lora.r) };
        this.modules.push(m);
        this.byKey.set(`${layer}.${target}`, m);
      }
    }
    this.length = Math.max(64, off);
  }

  get(layer: number, target: Target): LoraModule | undefined {
    return this.byKey.get(`${layer}.${target}`);
  }

  /** PEFT initialisation: A ~ U(−1/√in, 1/√in) (kaiming-uniform, a = √5), B = 0. */
  init(seed: number): Float32Array {
    const flat = new Float32Array(this.length);
    const rand = rng(seed);
    for (const m of this.modules) {
      const bound = 1 / Math.sqrt(m.inF);
      for (let i = 0; i < m.A.length; i++) flat[m.A.offset + i] = (2 * rand() - 1) * bound;
    }
    return flat;
  }
}

/** The GPU side: parameters, gradients and AdamW moments, all [length] f32. */
export class LoraState {
  readonly params: GPUBuffer;
  readonly grads: GPUBuffer;
  readonly m: GPUBuffer;
  readonly v: GPUBuffer;

  constructor(
    readonly device: GPUDevice,
    readonly layout: LoraLayout,
    values: Float32Array,
  ) {
    const make = (label: string) =>
      device.createBuffer({
        label: `lora.${label}[${layout.length}]`,
        size: layout.length * 4,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
      });
    this.params = make('params');
    this.grads = make('grads');
    this.m = make('m');
    this.v = make('v');
    this.load(values);
  }

  /** Replaces the parameters and resets gradients and optimizer state. */
  load(values: Float32Array): void {
    if (values.length !== this.layout.length)
      throw new UsageError(`adapter has ${values.length} values, layout expects ${this.layout.length}`);
    this.device.queue.writeBuffer(this.params, 0, values);
    const enc = this.device.createCommandEncoder();
    for (const b of [this.grads, this.m, this.v]) enc.clearBuffer(b);
    this.device.queue.submit([enc.finish()]);
  }

  view(buf: GPUBuffer, v: FlatView): GPUBufferBinding {
    return { buffer: buf, offset: v.offset * 4, size: Math.max(4, v.length * 4) };
  }

  destroy(): void {
    for (const b of [this.params, this.grads, this.m, this.v]) b.destroy();
  }
}
