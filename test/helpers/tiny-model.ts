// Writes small Hugging Face model folders with seeded random weights (and optionally a byte-level
// BPE tokenizer with ChatML), in every layout the loader must handle.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { f32ToF16 } from '../../src/model/dtype';
import { writeSafetensors, type Dtype, type TensorToWrite } from '../../src/model/safetensors';
import { rng } from '../../src/rng';
import { BYTE_VOCAB, byteTokenizerFiles, IM_END } from '../../src/demo/tokenizer';

export interface TinyOptions {
  type?: 'llama' | 'qwen2' | 'qwen3';
  /** A *ForSequenceClassification reward model with this many labels (a score head, no LM head). */
  scoreLabels?: number;
  hidden?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  intermediate?: number;
  vocab?: number;
  dtype?: 'F32' | 'F16' | 'BF16';
  tie?: boolean;
  shards?: number;
  seed?: number;
  tokenizer?: boolean;
  ropeTheta?: number;
}

function encodeDtype(v: Float32Array, dtype: Dtype): ArrayBufferView {
  if (dtype === 'F32') return v;
  const out = new Uint16Array(v.length);
  const f = new Float32Array(1),
    u = new Uint32Array(f.buffer);
  for (let i = 0; i < v.length; i++) {
    if (dtype === 'F16') out[i] = f32ToF16(v[i]);
    else {
      f[0] = v[i];
      out[i] = (u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 16;
    } // round to nearest even
  }
  return out;
}

export function tinyTensors(o: TinyOptions = {}) {
  const type = o.type ?? 'llama';
  const H = o.hidden ?? 32,
    L = o.layers ?? 2,
    nH = o.heads ?? 4,
    nKV = o.kvHeads ?? 2,
    I = o.intermediate ?? 48,
    V = o.vocab ?? 64;
  const hd = H / nH;
  const rand = rng(o.seed ?? 1);
  const t: Record<string, Float32Array> = {};
  const shapes: Record<string, number[]> = {};
  const mat = (name: string, rows: number, cols: number, scale = 1 / Math.sqrt(cols)) => {
    const v = new Float32Array(rows * cols);
    for (let i = 0; i < v.length; i++) v[i] = (rand() * 2 - 1) * scale * 1.7;
    t[name] = v;
    shapes[name] = [rows, cols];
  };
  const vec = (name: string, n: number, center: number, spread: number) => {
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = center + (rand() * 2 - 1) * spread;
    t[name] = v;
    shapes[name] = [n];
  };
  mat('model.embed_tokens.weight', V, H, 1);
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    vec(p + 'input_layernorm.weight', H, 1, 0.2);
    mat(p + 'self_attn.q_proj.weight', nH * hd, H);
    mat(p + 'self_attn.k_proj.weight', nKV * hd, H);
    mat(p + 'self_attn.v_proj.weight', nKV * hd, H);
    if (type === 'qwen3') {
      vec(p + 'self_attn.q_norm.weight', hd, 1, 0.3);
      vec(p + 'self_attn.k_norm.weight', hd, 1, 0.3);
    }
    if (type === 'qwen2') {
      vec(p + 'self_attn.q_proj.bias', nH * hd, 0, 0.5);
      vec(p + 'self_attn.k_proj.bias', nKV * hd, 0, 0.5);
      vec(p + 'self_attn.v_proj.bias', nKV * hd, 0, 0.5);
    }
    mat(p + 'self_attn.o_proj.weight', H, nH * hd);
    vec(p + 'post_attention_layernorm.weight', H, 1, 0.2);
    mat(p + 'mlp.gate_proj.weight', I, H);
    mat(p + 'mlp.up_proj.weight', I, H);
    mat(p + 'mlp.down_proj.weight', H, I);
  }
  vec('model.norm.weight', H, 1, 0.2);
  if (o.scoreLabels) mat('score.weight', o.scoreLabels, H);
  else if (!(o.tie ?? true)) mat('lm_head.weight', V, H);
  const family = { llama: 'Llama', qwen2: 'Qwen2', qwen3: 'Qwen3' }[type];
  const config = {
    architectures: [`${family}${o.scoreLabels ? 'ForSequenceClassification' : 'ForCausalLM'}`],
    num_labels: o.scoreLabels ?? undefined,
    head_dim: hd,
    model_type: type,
    hidden_size: H,
    intermediate_size: I,
    num_hidden_layers: L,
    num_attention_heads: nH,
    num_key_value_heads: nKV,
    vocab_size: V,
    max_position_embeddings: 512,
    rms_norm_eps: 1e-5,
    rope_theta: o.ropeTheta ?? 10000,
    tie_word_embeddings: o.scoreLabels ? false : (o.tie ?? true),
    hidden_act: 'silu',
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
  };
  return { tensors: t, shapes, config };
}

/** Writes a model folder; returns its path. */
export function writeTinyModel(dir: string, o: TinyOptions = {}): string {
  mkdirSync(dir, { recursive: true });
  const dtype = o.dtype ?? 'F32';
  const vocab = o.tokenizer ? Math.max(o.vocab ?? 0, BYTE_VOCAB) : o.vocab;
  const { tensors, shapes, config } = tinyTensors({ ...o, vocab });
  const names = Object.keys(tensors);
  const shards = o.shards ?? 1;
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const file =
      shards === 1
        ? 'model.safetensors'
        : `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const mine = names.filter((_, i) => i % shards === s);
    const out: Record<string, TensorToWrite> = {};
    for (const n of mine) {
      out[n] = { dtype, shape: shapes[n], data: encodeDtype(tensors[n], dtype) };
      weightMap[n] = file;
    }
    writeFileSync(join(dir, file), writeSafetensors(out, { format: 'pt' }));
  }
  if (shards > 1)
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  if (o.tokenizer) {
    config.eos_token_id = IM_END;
    writeByteTokenizer(dir);
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}

/** Writes the byte-level BPE tokenizer with ChatML (src/demo/tokenizer.ts) into a model folder. */
export function writeByteTokenizer(dir: string): void {
  for (const [name, text] of Object.entries(byteTokenizerFiles())) writeFileSync(join(dir, name), text);
}
