// Full-parameter training state for small models: every weight tensor of the (f32) model gets a
// gradient and AdamW moments. The weight buffers themselves are the parameters. `only` narrows
// it to some tensors (a reward model's score head beside a LoRA adapter: PEFT's modules_to_save).

import { UsageError } from '../errors';
import type { ModelConfig } from '../model/config';
import { expectedTensors } from '../model/config';
import type { GpuWeights, LayerWeights } from '../engine/weights';
import { readF32 } from '../gpu/readback';

/** One optimizer-visible tensor: parameters, gradient and AdamW moments, all [length] f32. */
export interface ParamGroup {
  name: string;
  params: GPUBuffer;
  grads: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;
  length: number;
}

const LAYER_FIELDS: [string, keyof LayerWeights][] = [
  ['input_layernorm.weight', 'inputNorm'],
  ['self_attn.q_proj.weight', 'q'],
  ['self_attn.k_proj.weight', 'k'],
  ['self_attn.v_proj.weight', 'v'],
  ['self_attn.q_proj.bias', 'qBias'],
  ['self_attn.k_proj.bias', 'kBias'],
  ['self_attn.v_proj.bias', 'vBias'],
  ['self_attn.o_proj.weight', 'o'],
  ['post_attention_layernorm.weight', 'postNorm'],
  ['mlp.gate_proj.weight', 'gate'],
  ['mlp.up_proj.weight', 'up'],
  ['mlp.down_proj.weight', 'down'],
];

/** The Hugging Face name → GPU buffer map of a loaded model. */
export function weightBuffers(cfg: ModelConfig, w: GpuWeights): Map<string, GPUBuffer> {
  const out = new Map<string, GPUBuffer>();
  out.set('model.embed_tokens.weight', w.embed[0].buffer);
  w.layers.forEach((lw, l) => {
    for (const [suffix, field] of LAYER_FIELDS) {
      const b = lw[field];
      if (b) out.set(`model.layers.${l}.${suffix}`, b);
    }
  });
  out.set('model.norm.weight', w.finalNorm);
  if (cfg.head === 'score') out.set('score.weight', w.lmHead[0].buffer);
  else if (!cfg.tieEmbeddings) out.set('lm_head.weight', w.lmHead[0].buffer);
  return out;
}

/** Tensors stored f32 whatever the weight type: norms, biases, a reward model's score head. */
const ALWAYS_F32 = /norm\.weight$|\.bias$|^score\.weight$/;

export class FullParams {
  readonly groups: ParamGroup[] = [];
  private byName = new Map<string, ParamGroup>();

  /** `only`: train just these tensors (Hugging Face names); default every weight. */
  constructor(
    readonly device: GPUDevice,
    readonly cfg: ModelConfig,
    readonly weights: GpuWeights,
    only?: string[],
  ) {
    const all = weightBuffers(cfg, weights);
    const names = only ?? [...all.keys()];
    const missing = names.filter((n) => !all.has(n));
    if (missing.length) throw new UsageError(`this model has no tensor ${missing[0]} to train`);
    if (weights.wt !== 'f32' && names.some((n) => !ALWAYS_F32.test(n)))
      throw new UsageError('full-parameter training needs f32 weights', 'Load the model with weightDtype "f32".');
    const tables = ['model.embed_tokens.weight', 'lm_head.weight'];
    if (names.some((n) => tables.includes(n)) && (weights.embed.length > 1 || weights.lmHead.length > 1))
      throw new UsageError(
        'full-parameter training is for small models (the embedding must fit one buffer)',
        'Train a LoRA adapter instead.',
      );
    const shapes = expectedTensors(cfg);
    for (const name of names) {
      const params = all.get(name)!;
      const length = shapes.get(name)!.reduce((a, b) => a * b, 1);
      const make = (what: string) =>
        device.createBuffer({
          label: `${name}.${what}`,
          size: params.size,
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
        });
      const g = { name, params, grads: make('grad'), m: make('m'), v: make('v'), length };
      this.groups.push(g);
      this.byName.set(name, g);
    }
  }

  /** Gradient buffer of a tensor, by Hugging Face name (undefined: not trained). */
  gradOf(name: string): GPUBuffer | undefined {
    return this.byName.get(name)?.grads;
  }

  /** Current values of every tensor (f32), keyed by Hugging Face name. */
  async download(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const g of this.groups) out.set(g.name, await readF32(this.device, g.params, g.length));
    return out;
  }

  destroy(): void {
    for (const g of this.groups) for (const b of [g.grads, g.m, g.v]) b.destroy();
  }
}
