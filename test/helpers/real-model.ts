// Real-shape fixtures: a model folder made from one of the real models' file sets in
// ../shared/models/real (config.json, generation_config.json, tokenizer.json, tokenizer_config.json,
// special_tokens_map.json; no weights there) with seeded random weights of exactly the tensor names,
// shapes and dtype transformers' state dict has (bf16; a tied head absent, Qwen2's q/k/v biases,
// Qwen3's q_norm / k_norm), optionally with fewer layers, or as the *ForSequenceClassification
// variant with a one-label score head.

import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/model/config';
import { randomBf16Tensors } from '../../bench/synthetic';
import { writeSafetensors, type TensorToWrite } from '../../src/model/safetensors';

export const REAL_DIR = join(__dirname, '../../../shared/models/real');
export type RealModel = 'SmolLM2-135M-Instruct' | 'SmolLM2-360M-Instruct' | 'Qwen2.5-0.5B-Instruct' | 'Qwen3-0.6B';
const FILES = ['generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

export interface RealShapeOptions {
  /** Keep only the first N decoder layers (default: all of them). */
  layers?: number;
  /** The *ForSequenceClassification variant with a one-label score head. */
  classification?: boolean;
  seed?: number;
}

export function realConfig(name: RealModel): Record<string, unknown> {
  const dir = join(REAL_DIR, name);
  if (!existsSync(join(dir, 'config.json')))
    throw new Error(`${dir}: the real model files are missing (../shared/models/real is part of the workplace)`);
  return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
}

/** Writes the folder and returns its config as written. */
export function writeRealShapeModel(name: RealModel, out: string, o: RealShapeOptions = {}): Record<string, unknown> {
  const config = realConfig(name);
  if (o.layers !== undefined) config.num_hidden_layers = o.layers;
  if (o.classification) {
    config.architectures = [
      String((config.architectures as string[])[0]).replace(/ForCausalLM$/, 'ForSequenceClassification'),
    ];
    config.num_labels = 1;
    config.pad_token_id ??= config.eos_token_id;
  }
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  for (const f of FILES) copyFileSync(join(REAL_DIR, name, f), join(out, f));
  const tensors: Record<string, TensorToWrite> = {};
  for (const [tensor, t] of randomBf16Tensors(parseConfig(config), o.seed ?? 1))
    tensors[tensor] = { dtype: 'BF16', shape: t.shape, data: t.bits };
  writeFileSync(join(out, 'model.safetensors'), writeSafetensors(tensors, { format: 'pt' }));
  return config;
}
