// Reference LoRA: the float64 model with W + (alpha/r)·B·A in place of every target weight.

import type { LoraLayout } from '../../src/train/lora';
import type { RefWeights } from './llama';

export function mergedRefWeights(base: RefWeights, layout: LoraLayout, flat: ArrayLike<number>): RefWeights {
  const deltas = new Map<string, Float64Array>();
  const r = layout.lora.r;
  for (const m of layout.modules) {
    const block = ['gate_proj', 'up_proj', 'down_proj'].includes(m.target) ? 'mlp' : 'self_attn';
    const name = `model.layers.${m.layer}.${block}.${m.target}.weight`;
    const W = Float64Array.from(base.get(name));
    for (let o = 0; o < m.outF; o++)
      for (let i = 0; i < m.inF; i++) {
        let s = 0;
        for (let j = 0; j < r; j++) s += flat[m.B.offset + o * r + j] * flat[m.A.offset + j * m.inF + i];
        W[o * m.inF + i] += layout.scale * s;
      }
    deltas.set(name, W);
  }
  return { cfg: base.cfg, get: (n) => deltas.get(n) ?? base.get(n) };
}
