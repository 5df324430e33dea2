// Loads config.json and the safetensors weights (single file or sharded) from a ModelSource,
// checks every tensor the config needs is present with the right shape, and returns f32 views.

import { ModelConfigError, SafetensorsError } from '../errors';
import { expectedTensors, parseConfig, type ModelConfig } from './config';
import { toF32 } from './dtype';
import { parseSafetensors, type Dtype } from './safetensors';
import { readJson, readRequired, type ModelSource, type ProgressFn } from './source';

export interface RawTensor {
  dtype: Dtype;
  shape: number[];
  bytes: Uint8Array;
  file: string;
}

export interface Checkpoint {
  config: ModelConfig;
  /** Only the tensors the config needs, keyed by Hugging Face name. */
  tensors: Map<string, RawTensor>;
  /** True when the weights are stored in 16 bits (F16/BF16). */
  is16bit: boolean;
  /** The 16-bit type of the weights (the first 16-bit tensor's), when there is one. */
  dtype16?: 'bf16' | 'f16';
}

export async function loadCheckpoint(src: ModelSource, onProgress?: ProgressFn): Promise<Checkpoint> {
  const config = parseConfig(
    await readJson(src, 'config.json', true),
    await readJson(src, 'generation_config.json', false),
  );
  const index = (await readJson(src, 'model.safetensors.index.json', false)) as
    | { weight_map?: Record<string, string> }
    | undefined;
  let files: string[];
  if (index) {
    if (!index.weight_map || typeof index.weight_map !== 'object')
      throw new ModelConfigError(`${src.label}: model.safetensors.index.json has no weight_map`);
    files = [...new Set(Object.values(index.weight_map))];
    for (const f of files)
      if (typeof f !== 'string' || f.includes('/') || f.includes('..'))
        throw new ModelConfigError(`${src.label}: weight_map names an invalid shard "${String(f)}"`);
  } else files = ['model.safetensors'];

  const want = expectedTensors(config);
  const tensors = new Map<string, RawTensor>();
  for (const file of files) {
    const bytes = await readRequired(src, file, onProgress);
    const header = parseSafetensors(bytes, file);
    for (const [name, t] of header.tensors) {
      const shape = want.get(name);
      if (!shape) continue; // e.g. rotary_emb.inv_freq, or an lm_head that is tied anyway
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new SafetensorsError(
          `${file}: tensor "${name}" has shape ${JSON.stringify(t.shape)}, ` +
            `config.json implies ${JSON.stringify(shape)}`,
          'config.json and the weights come from different models.',
        );
      }
      if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16')
        throw new SafetensorsError(
          `${file}: tensor "${name}" has dtype ${t.dtype}; weights must be F32, F16 or BF16`,
          'Quantised checkpoints are not supported: use the original bf16/f16 model.',
        );
      tensors.set(name, { dtype: t.dtype, shape: t.shape, bytes: bytes.subarray(t.begin, t.end), file });
    }
  }
  for (const name of want.keys()) {
    if (!tensors.has(name))
      throw new SafetensorsError(
        `${src.label}: tensor "${name}" is missing from ${files.join(', ')}`,
        'The checkpoint is incomplete or does not match config.json.',
      );
  }
  const first16 = [...tensors.values()].find((t) => t.dtype !== 'F32');
  const dtype16 = first16 ? (first16.dtype === 'BF16' ? 'bf16' : 'f16') : undefined;
  return { config, tensors, is16bit: !!first16, dtype16 };
}

export function tensorF32(ck: Checkpoint, name: string): Float32Array {
  const t = ck.tensors.get(name);
  if (!t) throw new SafetensorsError(`tensor "${name}" is not in the checkpoint`);
  return toF32(t.bytes, t.dtype, `${t.file}: ${name}`);
}
