// Node-only: writing model folders (trained weights as f32 safetensors, with the source's config
// and tokenizer files), for `tpo sft --full`, `tpo rm --full` and the demo models' scripts.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expectedTensors, type ModelConfig } from './config';
import { writeSafetensors, type TensorToWrite } from './safetensors';
import { readJson, type ModelSource } from './source';

/** The files besides config and weights that a model folder carries over from its source. */
const CARRIED = [
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
];

/** `dir`/model.safetensors: every tensor of `values`, f32, in the shape `cfg` expects. */
export async function writeWeightsFile(
  dir: string,
  cfg: ModelConfig,
  values: Map<string, Float32Array>,
): Promise<void> {
  const shapes = expectedTensors(cfg);
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, v] of values) {
    const shape = shapes.get(name);
    if (!shape) throw new Error(`${name} is not a tensor of this model`);
    tensors[name] = { dtype: 'F32', shape, data: v };
  }
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.safetensors'), writeSafetensors(tensors, { format: 'pt' }));
}

/**
 * A complete f32 model folder: the tensors, the source's config.json (torch_dtype float32, with
 * `configChanges` applied) and its generation and tokenizer files.
 */
export async function writeModelFolder(
  out: string,
  src: ModelSource,
  cfg: ModelConfig,
  values: Map<string, Float32Array>,
  configChanges: Record<string, unknown> = {},
): Promise<void> {
  await writeWeightsFile(out, cfg, values);
  const config = (await readJson(src, 'config.json', true)) as Record<string, unknown>;
  const written = { ...config, ...configChanges, torch_dtype: 'float32' };
  await writeFile(join(out, 'config.json'), `${JSON.stringify(written, null, 2)}\n`);
  for (const f of CARRIED) {
    const b = await src.read(f);
    if (b) await writeFile(join(out, f), b);
  }
}

/** A trained model folder made public: `work`'s model files copied to `out`, with the facts
 *  measured (eval.json) and the model card (README.md). */
export async function publishModelFolder(work: string, out: string, facts: object, card: string): Promise<void> {
  await mkdir(out, { recursive: true });
  for (const f of ['config.json', 'model.safetensors', ...CARRIED]) {
    const b = await readFile(join(work, f)).catch(() => null);
    if (b) await writeFile(join(out, f), b);
  }
  await writeFile(join(out, 'eval.json'), `${JSON.stringify(facts, null, 2)}\n`);
  await writeFile(join(out, 'README.md'), card);
}
