// Random checkpoints of real model shapes, built in memory (BF16, like the real hub weights), so
// the benchmark measures SmolLM2-135M-sized work without a download.

import type { Checkpoint, RawTensor } from '../src/model/checkpoint';
import { expectedTensors, type ModelConfig, parseConfig } from '../src/model/config';

export const SHAPES: Record<string, Record<string, unknown>> = {
  'smollm2-135m': {
    model_type: 'llama',
    hidden_size: 576,
    num_hidden_layers: 30,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    intermediate_size: 1536,
    vocab_size: 49152,
    rope_theta: 100000,
    rms_norm_eps: 1e-5,
    tie_word_embeddings: true,
    max_position_embeddings: 8192,
    bos_token_id: 1,
    eos_token_id: 2,
  },
  'qwen2.5-0.5b': {
    model_type: 'qwen2',
    hidden_size: 896,
    num_hidden_layers: 24,
    num_attention_heads: 14,
    num_key_value_heads: 2,
    intermediate_size: 4864,
    vocab_size: 151936,
    rope_theta: 1000000,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
    max_position_embeddings: 32768,
    bos_token_id: 151643,
    eos_token_id: 151645,
  },
};

/**
 * Seeded bf16 weights of every tensor a config names, as its state dict shapes them: weights
 * U(−0.05, 0.05) and norms 1, truncated to bf16 (the upper half of the f32 bits); one xorshift32
 * stream through the tensors in order. Also the real-shape test fixtures' weights.
 */
export function randomBf16Tensors(config: ModelConfig, seed = 1): Map<string, { shape: number[]; bits: Uint16Array }> {
  const out = new Map<string, { shape: number[]; bits: Uint16Array }>();
  let s = seed >>> 0;
  const f = new Float32Array(1),
    u = new Uint32Array(f.buffer);
  for (const [name, dims] of expectedTensors(config)) {
    const n = dims.reduce((a, b) => a * b, 1);
    const bits = new Uint16Array(n);
    const isNorm = dims.length === 1 && name.endsWith('norm.weight');
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      f[0] = isNorm ? 1 : (s / 4294967296 - 0.5) * 0.1;
      bits[i] = u[0] >>> 16;
    }
    out.set(name, { shape: dims, bits });
  }
  return out;
}

export function syntheticCheckpoint(shape: string, seed = 1): Checkpoint {
  const config = parseConfig(SHAPES[shape]);
  const tensors = new Map<string, RawTensor>();
  for (const [name, t] of randomBf16Tensors(config, seed))
    tensors.set(name, { dtype: 'BF16', shape: t.shape, bytes: new Uint8Array(t.bits.buffer), file: 'synthetic' });
  return { config, tensors, is16bit: true, dtype16: 'bf16' };
}
