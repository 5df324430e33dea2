// config.json → a validated ModelConfig. Llama and Qwen2 decoders (Qwen2: q/k/v bias).
// Validated once here, at the boundary: the engine trusts what this returns.

import { ModelConfigError } from '../errors';

export interface ModelConfig {
  modelType: 'llama' | 'qwen2' | 'qwen3';
  hidden: number; // H
  layers: number; // L
  heads: number; // nH
  kvHeads: number; // nKV
  headDim: number; // hd
  intermediate: number; // I
  vocab: number; // V
  ropeTheta: number;
  rmsEps: number;
  maxPositions: number;
  tieEmbeddings: boolean;
  qkvBias: boolean;
  /** Qwen3: per-head RMSNorm on q and k before RoPE (q_norm, k_norm [hd]). */
  qkNorm: boolean;
  /** 'lm': a causal LM head [V, H]; 'score': a *ForSequenceClassification head [numLabels, H] on the last token. */
  head: 'lm' | 'score';
  numLabels: number;
  bosTokenId?: number;
  eosTokenIds: number[];
}

function int(c: Record<string, unknown>, key: string, fallback?: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new ModelConfigError(
      `config.json: "${key}" must be a positive integer, got ${JSON.stringify(c[key])}`,
      'Check that the folder holds a Hugging Face causal-LM config.json.',
    );
  }
  return v;
}

function num(c: Record<string, unknown>, key: string, fallback: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new ModelConfigError(`config.json: "${key}" must be a positive number, got ${JSON.stringify(c[key])}`);
  return v;
}

function ids(v: unknown): number[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is number => Number.isInteger(x));
}

export function parseConfig(json: unknown, generationConfig?: unknown): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new ModelConfigError('config.json is not a JSON object');
  const c = json as Record<string, unknown>;
  const type = c.model_type;
  if (type !== 'llama' && type !== 'qwen2' && type !== 'qwen3') {
    throw new ModelConfigError(
      `config.json: model_type ${JSON.stringify(type)} is not supported`,
      'Supported decoders: llama (SmolLM2, TinyLlama, Llama 3), qwen2 (Qwen2, Qwen2.5) and qwen3.',
    );
  }
  const arch = Array.isArray(c.architectures) ? String(c.architectures[0] ?? '') : '';
  const head = arch.endsWith('ForSequenceClassification') ? 'score' : 'lm';
  if (arch && head === 'lm' && !arch.endsWith('ForCausalLM'))
    throw new ModelConfigError(
      `config.json: architecture ${arch} is not supported`,
      'Use a *ForCausalLM model, or a *ForSequenceClassification reward model.',
    );
  const numLabels =
    head === 'score'
      ? Number.isInteger(c.num_labels)
        ? (c.num_labels as number)
        : c.id2label && typeof c.id2label === 'object'
          ? Object.keys(c.id2label).length
          : 1
      : 0;
  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu')
    throw new ModelConfigError(`config.json: hidden_act "${String(act)}" is not supported; only silu (SwiGLU) is.`);
  const rs = c.rope_scaling as Record<string, unknown> | null | undefined;
  if (rs && rs.rope_type !== 'default' && rs.type !== 'default') {
    throw new ModelConfigError(
      `config.json: rope_scaling ${JSON.stringify(rs)} is not supported yet`,
      'Use a model with plain RoPE (SmolLM2, Qwen2.5 up to 32K context).',
    );
  }
  const hidden = int(c, 'hidden_size');
  const heads = int(c, 'num_attention_heads');
  const kvHeads = int(c, 'num_key_value_heads', heads);
  const headDim = int(c, 'head_dim', hidden / heads);
  if (heads % kvHeads !== 0)
    throw new ModelConfigError(
      `config.json: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`,
    );
  if (headDim % 2 !== 0) throw new ModelConfigError(`config.json: head_dim ${headDim} must be even for RoPE`);
  if (c.mlp_bias === true) throw new ModelConfigError('config.json: mlp_bias=true is not supported');
  const qkvBias = type === 'qwen2' ? true : c.attention_bias === true;
  const qkNorm = type === 'qwen3';
  const gen = (generationConfig ?? {}) as Record<string, unknown>;
  const eos = [...new Set([...ids(c.eos_token_id), ...ids(gen.eos_token_id)])];
  return {
    modelType: type,
    hidden,
    layers: int(c, 'num_hidden_layers'),
    heads,
    kvHeads,
    headDim,
    intermediate: int(c, 'intermediate_size'),
    vocab: int(c, 'vocab_size'),
    ropeTheta: num(c, 'rope_theta', 10000),
    rmsEps: num(c, 'rms_norm_eps', 1e-6),
    maxPositions: int(c, 'max_position_embeddings', 2048),
    tieEmbeddings: c.tie_word_embeddings === undefined ? false : c.tie_word_embeddings === true,
    qkvBias,
    qkNorm,
    head,
    numLabels,
    bosTokenId: Number.isInteger(c.bos_token_id) ? (c.bos_token_id as number) : undefined,
    eosTokenIds: eos,
  };
}

/** The tensor names and shapes a checkpoint must hold for this config ([out, in] for linears). */
export function expectedTensors(cfg: ModelConfig): Map<string, number[]> {
  const { hidden: H, heads, kvHeads, headDim: hd, intermediate: I, vocab: V } = cfg;
  const m = new Map<string, number[]>();
  m.set('model.embed_tokens.weight', [V, H]);
  for (let l = 0; l < cfg.layers; l++) {
    const p = `model.layers.${l}.`;
    m.set(p + 'input_layernorm.weight', [H]);
    m.set(p + 'self_attn.q_proj.weight', [heads * hd, H]);
    m.set(p + 'self_attn.k_proj.weight', [kvHeads * hd, H]);
    m.set(p + 'self_attn.v_proj.weight', [kvHeads * hd, H]);
    if (cfg.qkvBias) {
      m.set(p + 'self_attn.q_proj.bias', [heads * hd]);
      m.set(p + 'self_attn.k_proj.bias', [kvHeads * hd]);
      m.set(p + 'self_attn.v_proj.bias', [kvHeads * hd]);
    }
    if (cfg.qkNorm) {
      m.set(p + 'self_attn.q_norm.weight', [hd]);
      m.set(p + 'self_attn.k_norm.weight', [hd]);
    }
    m.set(p + 'self_attn.o_proj.weight', [H, heads * hd]);
    m.set(p + 'post_attention_layernorm.weight', [H]);
    m.set(p + 'mlp.gate_proj.weight', [I, H]);
    m.set(p + 'mlp.up_proj.weight', [I, H]);
    m.set(p + 'mlp.down_proj.weight', [H, I]);
  }
  m.set('model.norm.weight', [H]);
  if (cfg.head === 'score') m.set('score.weight', [cfg.numLabels, H]);
  else if (!cfg.tieEmbeddings) m.set('lm_head.weight', [V, H]);
  return m;
}
