// The decoder layer, written once. Llama, Qwen2 and Qwen3 share it: Qwen2 adds biases to q/k/v
// (held by the weights), Qwen3 a per-head RMSNorm of q and k before RoPE. The inference plan
// (engine/forward.ts) records these ops for ragged rows over a KV cache; the training graph
// (train/graph.ts) records them over a padded batch and walks the same list backwards for the
// backward pass. A fused op added here reaches both.
//
// Tensors are named; each side maps a name to its buffer. Shapes (rows = tokens of the pass):
//   x, xMid, xOut [rows, H] residual stream   xn1, xn2 [rows, H]   rstd1, rstd2 [rows]
//   q, qn [rows, nH, hd]   k, v, kn [rows, nKV, hd]   kCache, vCache [slots, nKV, maxLen, hd]
//   att [rows, nH, maxLen]   ao [rows, nH·hd]   gate, up, act [rows, I]

import type { LayerWeights } from '../engine/weights';
import type { Target } from '../train/lora';
import type { ModelConfig } from './config';

export type Tensor =
  | 'x'
  | 'xn1'
  | 'rstd1'
  | 'q'
  | 'k'
  | 'v'
  | 'qn'
  | 'kn'
  | 'kCache'
  | 'vCache'
  | 'att'
  | 'ao'
  | 'xMid'
  | 'xn2'
  | 'rstd2'
  | 'gate'
  | 'up'
  | 'act'
  | 'xOut';

export type BlockOp =
  /** out = rmsnorm(inp)·weight over rows of H; rstd saved for backward. */
  | { op: 'rmsnorm'; inp: Tensor; out: Tensor; rstd: Tensor; weight: 'inputNorm' | 'postNorm'; hfName: string }
  /** Qwen3: out = rmsnorm(inp)·weight over each head's hd values. */
  | { op: 'headNorm'; inp: Tensor; out: Tensor; weight: 'qNorm' | 'kNorm'; heads: 'nH' | 'nKV'; hfName: string }
  /** out = inp·Wᵀ (+ bias) (+ LoRA), plus `residual` when given (the residual add). */
  | { op: 'linear'; target: Target; inp: Tensor; out: Tensor; residual?: Tensor }
  /** RoPE on q (in place) and k; k and v written to the caches at each row's (slot, pos). */
  | { op: 'ropeKv'; q: Tensor; k: Tensor; v: Tensor; kCache: Tensor; vCache: Tensor }
  /** Causal GQA of q over the caches; att keeps the probabilities. */
  | { op: 'attention'; q: Tensor; kCache: Tensor; vCache: Tensor; att: Tensor; out: Tensor }
  /** out = silu(gate) ⊙ up. */
  | { op: 'swiglu'; gate: Tensor; up: Tensor; out: Tensor };

/** The ops of layer `l`, in order. */
export function blockOps(cfg: ModelConfig, l: number): BlockOp[] {
  const p = `model.layers.${l}.`;
  // Qwen3 normalises q and k per head before RoPE.
  const [q, k] = cfg.qkNorm ? (['qn', 'kn'] as const) : (['q', 'k'] as const);
  const headNorms: BlockOp[] = cfg.qkNorm
    ? [
        { op: 'headNorm', inp: 'q', out: 'qn', weight: 'qNorm', heads: 'nH', hfName: `${p}self_attn.q_norm.weight` },
        { op: 'headNorm', inp: 'k', out: 'kn', weight: 'kNorm', heads: 'nKV', hfName: `${p}self_attn.k_norm.weight` },
      ]
    : [];
  return [
    // attention
    { op: 'rmsnorm', inp: 'x', out: 'xn1', rstd: 'rstd1', weight: 'inputNorm', hfName: `${p}input_layernorm.weight` },
    { op: 'linear', target: 'q_proj', inp: 'xn1', out: 'q' },
    { op: 'linear', target: 'k_proj', inp: 'xn1', out: 'k' },
    { op: 'linear', target: 'v_proj', inp: 'xn1', out: 'v' },
    ...headNorms,
    { op: 'ropeKv', q, k, v: 'v', kCache: 'kCache', vCache: 'vCache' },
    { op: 'attention', q, kCache: 'kCache', vCache: 'vCache', att: 'att', out: 'ao' },
    { op: 'linear', target: 'o_proj', inp: 'ao', out: 'xMid', residual: 'x' },
    // MLP
    {
      op: 'rmsnorm',
      inp: 'xMid',
      out: 'xn2',
      rstd: 'rstd2',
      weight: 'postNorm',
      hfName: `${p}post_attention_layernorm.weight`,
    },
    { op: 'linear', target: 'gate_proj', inp: 'xn2', out: 'gate' },
    { op: 'linear', target: 'up_proj', inp: 'xn2', out: 'up' },
    { op: 'swiglu', gate: 'gate', up: 'up', out: 'act' },
    { op: 'linear', target: 'down_proj', inp: 'act', out: 'xOut', residual: 'xMid' },
  ];
}

const WEIGHT: Record<Target, { weight: keyof LayerWeights; bias?: keyof LayerWeights; module: string }> = {
  q_proj: { weight: 'q', bias: 'qBias', module: 'self_attn' },
  k_proj: { weight: 'k', bias: 'kBias', module: 'self_attn' },
  v_proj: { weight: 'v', bias: 'vBias', module: 'self_attn' },
  o_proj: { weight: 'o', module: 'self_attn' },
  gate_proj: { weight: 'gate', module: 'mlp' },
  up_proj: { weight: 'up', module: 'mlp' },
  down_proj: { weight: 'down', module: 'mlp' },
};

/** A linear's weight [outF, inF], its bias when the checkpoint has one, and its HF name. */
export function linearWeights(w: LayerWeights, l: number, target: Target) {
  const f = WEIGHT[target];
  return {
    weight: w[f.weight] as GPUBuffer,
    bias: f.bias ? w[f.bias] : undefined,
    hfName: `model.layers.${l}.${f.module}.${target}`,
  };
}

/** in/out features of a linear ([out, in] as the weight is stored). */
export function linearDims(cfg: ModelConfig, t: Target): { inF: number; outF: number } {
  const q = cfg.heads * cfg.headDim;
  const kv = cfg.kvHeads * cfg.headDim;
  const dims: Record<Target, [number, number]> = {
    q_proj: [cfg.hidden, q],
    k_proj: [cfg.hidden, kv],
    v_proj: [cfg.hidden, kv],
    o_proj: [q, cfg.hidden],
    gate_proj: [cfg.hidden, cfg.intermediate],
    up_proj: [cfg.hidden, cfg.intermediate],
    down_proj: [cfg.intermediate, cfg.hidden],
  };
  const [inF, outF] = dims[t];
  return { inF, outF };
}
