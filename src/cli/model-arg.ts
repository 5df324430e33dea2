// Turns the CLI's --model value into a ModelSource: an existing folder, else a hub repo id
// (downloaded once into the cache folder). No --model: the embedded default model.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors';
import { hubSource, type ModelSource } from '../model/source';
import { folderCache, folderSource, isFolder } from '../model/source-node';
import type { WeightDtypeChoice } from '../engine/weights';

/** How a model's weights may be stored on the GPU (--dtype, --judge-dtype). */
export const DTYPES: WeightDtypeChoice[] = ['auto', 'f32', 'bf16', 'f16', 'q8', 'q4'];
export const DTYPE_HELP = `how the weights are stored on the GPU: auto keeps a bf16 or f16 checkpoint 16-bit and an f32
                 one f32; q8 / q4 quantize the linear and embedding weights at load (1.06 / 0.56 bytes a
                 weight, an f16 scale per group of 32; norms and biases stay f32)`;

/** A --dtype value, checked. */
export function dtypeFlag(value: string | undefined, flag = '--dtype'): WeightDtypeChoice {
  const v = (value ?? 'auto') as WeightDtypeChoice;
  if (!DTYPES.includes(v)) throw new UsageError(`${flag} ${value}: expected ${DTYPES.join(', ')}`);
  return v;
}

/** The model shipped in public/ (served by the app, read from disk by the CLI). */
export const DEFAULT_MODEL_DIR = join(packageRoot(), 'public/models/tpo-demo');
/** The real pretrained Llama checkpoint the engine checks and benchmarks use (no tokenizer). */
export const STORIES_DIR = join(packageRoot(), 'public/models/stories260K');

/** The folder holding this project's package.json (works from src/ and from the bundled CLI). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export async function modelSource(
  model: string | undefined,
  opts: { hubUrl?: string; revision?: string; token?: string },
): Promise<ModelSource> {
  if (!model) return folderSource(DEFAULT_MODEL_DIR);
  if (await isFolder(model)) return folderSource(model);
  if (/^[\w.-]+\/[\w.-]+$/.test(model)) {
    return hubSource(model, {
      baseUrl: opts.hubUrl ?? process.env.TPO_HUB_URL,
      revision: opts.revision,
      cache: folderCache(),
      token: opts.token ?? process.env.HF_TOKEN,
    });
  }
  throw new UsageError(
    `--model ${model}: no such folder, and not a hub repo id`,
    'Give a folder with config.json and model.safetensors, or a repo id like HuggingFaceTB/SmolLM2-135M-Instruct.',
  );
}
