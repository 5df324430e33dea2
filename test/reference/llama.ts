// Float64 reference Llama / Qwen2 decoder, written from the Hugging Face modeling code's math
// (FORMATS.md), independent of the GPU engine's layout choices. Processes tokens one at a time
// with a per-sequence key/value list, which is exactly causal attention over a full sequence.

import type { Checkpoint } from '../../src/model/checkpoint';
import { tensorF32 } from '../../src/model/checkpoint';
import type { ModelConfig } from '../../src/model/config';
import { argmax, attendOne, linear, rmsnorm, rope, silu, type F64 } from './ops';

export interface RefWeights {
  cfg: ModelConfig;
  get(name: string): Float64Array;
}

export function refWeights(ck: Checkpoint): RefWeights {
  const cache = new Map<string, Float64Array>();
  return {
    cfg: ck.config,
    get(name) {
      let w = cache.get(name);
      if (!w) cache.set(name, (w = Float64Array.from(tensorF32(ck, name))));
      return w;
    },
  };
}

export class RefSequence {
  /** keys[l][t] / values[l][t]: [nKV·hd] after RoPE */
  private keys: F64[][];
  private values: F64[][];
  constructor(readonly w: RefWeights) {
    this.keys = Array.from({ length: w.cfg.layers }, () => []);
    this.values = Array.from({ length: w.cfg.layers }, () => []);
  }

  get length(): number {
    return this.keys[0].length;
  }

  /** Appends one token and returns the logits [V] at its position. */
  step(token: number): F64 {
    const { cfg } = this.w;
    const W = (n: string) => this.w.get(n);
    const { hidden: H, heads: nH, kvHeads: nKV, headDim: hd, intermediate: I, vocab: V } = cfg;
    const pos = this.length;
    let x = W('model.embed_tokens.weight').slice(token * H, (token + 1) * H);
    for (let l = 0; l < cfg.layers; l++) {
      const p = `model.layers.${l}.`;
      const xn = rmsnorm(x, W(p + 'input_layernorm.weight'), 1, H, cfg.rmsEps);
      const bias = (n: string) => (cfg.qkvBias ? W(p + `self_attn.${n}_proj.bias`) : undefined);
      const q = linear(xn, W(p + 'self_attn.q_proj.weight'), 1, H, nH * hd, bias('q'));
      const k = linear(xn, W(p + 'self_attn.k_proj.weight'), 1, H, nKV * hd, bias('k'));
      const v = linear(xn, W(p + 'self_attn.v_proj.weight'), 1, H, nKV * hd, bias('v'));
      // Qwen3: RMSNorm over each head's q and k before RoPE
      const headNorm = (v: Float64Array, n: number, name: string) =>
        cfg.qkNorm ? rmsnorm(v, W(p + `self_attn.${name}.weight`), n, hd, cfg.rmsEps) : v;
      const qq = headNorm(q, nH, 'q_norm'),
        kq = headNorm(k, nKV, 'k_norm');
      const kr = new Float64Array(nKV * hd);
      for (let j = 0; j < nKV; j++) kr.set(rope(kq.subarray(j * hd, (j + 1) * hd), pos, cfg.ropeTheta), j * hd);
      this.keys[l].push(kr);
      this.values[l].push(v);
      const ao = new Float64Array(nH * hd);
      const rep = nH / nKV;
      for (let h = 0; h < nH; h++) {
        const j = Math.floor(h / rep);
        const qh = rope(qq.subarray(h * hd, (h + 1) * hd), pos, cfg.ropeTheta);
        const ks = this.keys[l].map((kk) => kk.subarray(j * hd, (j + 1) * hd));
        const vs = this.values[l].map((vv) => vv.subarray(j * hd, (j + 1) * hd));
        ao.set(attendOne(qh, ks, vs).out, h * hd);
      }
      const o = linear(ao, W(p + 'self_attn.o_proj.weight'), 1, nH * hd, H);
      x = x.map((xi, i) => xi + o[i]);
      const xn2 = rmsnorm(x, W(p + 'post_attention_layernorm.weight'), 1, H, cfg.rmsEps);
      const g = linear(xn2, W(p + 'mlp.gate_proj.weight'), 1, H, I);
      const u = linear(xn2, W(p + 'mlp.up_proj.weight'), 1, H, I);
      const act = g.map((gi, i) => silu(gi) * u[i]);
      const d = linear(act, W(p + 'mlp.down_proj.weight'), 1, I, H);
      x = x.map((xi, i) => xi + d[i]);
    }
    const xf = rmsnorm(x, W('model.norm.weight'), 1, H, cfg.rmsEps);
    if (cfg.head === 'score') return linear(xf, W('score.weight'), 1, H, cfg.numLabels);
    return linear(xf, W(cfg.tieEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight'), 1, H, V);
  }
}

/** Logits [T][V] for every position of one sequence. */
export function refLogits(w: RefWeights, tokens: number[]): F64[] {
  const s = new RefSequence(w);
  return tokens.map((t) => s.step(t));
}

/** Greedy continuation of `prompt` for n tokens. */
export function refGreedy(w: RefWeights, prompt: number[], n: number): number[] {
  const s = new RefSequence(w);
  let logits!: F64;
  for (const t of prompt) logits = s.step(t);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const next = argmax(logits);
    out.push(next);
    logits = s.step(next);
  }
  return out;
}
