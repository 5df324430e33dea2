// A freshly initialised Llama model for from-scratch training of the demo model: config.json and
// seeded weights (GPT-2 style: N(0, 0.02), residual projections scaled by 1/√(2L), norms at 1,
// LM head tied to the embedding unless asked otherwise), held in memory as a ModelSource the engine
// loads like a folder.

import { rng } from '../rng';
import { writeSafetensors, type TensorToWrite } from '../model/safetensors';
import type { ModelSource } from '../model/source';

export interface DemoShape {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  vocab: number;
  maxPositions: number;
  /** A separate LM head instead of the embedding's transpose (default: tied). */
  untied?: boolean;
}

export function demoConfig(s: DemoShape, eos: number, pad: number): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: s.hidden,
    intermediate_size: s.intermediate,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: s.kvHeads,
    head_dim: s.hidden / s.heads,
    vocab_size: s.vocab,
    max_position_embeddings: s.maxPositions,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    hidden_act: 'silu',
    tie_word_embeddings: !s.untied,
    bos_token_id: null,
    eos_token_id: eos,
    pad_token_id: pad,
    torch_dtype: 'float32',
  };
}

/** Standard normal samples from a seeded uniform source (Box–Muller). */
function normal(r: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = Math.max(r(), 1e-12),
      v = r();
    const m = Math.sqrt(-2 * Math.log(u));
    spare = m * Math.sin(2 * Math.PI * v);
    return m * Math.cos(2 * Math.PI * v);
  };
}

export function initTensors(s: DemoShape, seed: number): Record<string, TensorToWrite> {
  const n = normal(rng(seed));
  const hd = s.hidden / s.heads;
  const out: Record<string, TensorToWrite> = {};
  const mat = (name: string, rows: number, cols: number, std: number) => {
    const v = new Float32Array(rows * cols);
    for (let i = 0; i < v.length; i++) v[i] = n() * std;
    out[name] = { dtype: 'F32', shape: [rows, cols], data: v };
  };
  const ones = (name: string, len: number) =>
    (out[name] = { dtype: 'F32', shape: [len], data: new Float32Array(len).fill(1) });
  const std = 0.02,
    resid = 0.02 / Math.sqrt(2 * s.layers);
  mat('model.embed_tokens.weight', s.vocab, s.hidden, std);
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}.`;
    ones(p + 'input_layernorm.weight', s.hidden);
    mat(p + 'self_attn.q_proj.weight', s.heads * hd, s.hidden, std);
    mat(p + 'self_attn.k_proj.weight', s.kvHeads * hd, s.hidden, std);
    mat(p + 'self_attn.v_proj.weight', s.kvHeads * hd, s.hidden, std);
    mat(p + 'self_attn.o_proj.weight', s.hidden, s.heads * hd, resid);
    ones(p + 'post_attention_layernorm.weight', s.hidden);
    mat(p + 'mlp.gate_proj.weight', s.intermediate, s.hidden, std);
    mat(p + 'mlp.up_proj.weight', s.intermediate, s.hidden, std);
    mat(p + 'mlp.down_proj.weight', s.hidden, s.intermediate, resid);
  }
  ones('model.norm.weight', s.hidden);
  if (s.untied) mat('lm_head.weight', s.vocab, s.hidden, std);
  return out;
}

/** A ModelSource over files held in memory (name → bytes). */
export function memorySource(files: Record<string, Uint8Array | string>, label = 'memory'): ModelSource {
  const enc = new TextEncoder();
  return {
    label,
    async read(file) {
      const f = files[file];
      return f === undefined ? null : typeof f === 'string' ? enc.encode(f) : f;
    },
  };
}

export function safetensorsBytes(t: Record<string, TensorToWrite>): Uint8Array {
  return writeSafetensors(t, { format: 'pt' });
}
