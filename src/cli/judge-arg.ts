// The CLI's judges: --judge (rules:<spec.json> | http:<url>#<model> | pairwise:<model> | rm:<model
// or adapter>) parsed into the judge module's spec (tpo/judge-spec.ts), and the factory's local
// models loaded from folders or the hub.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Gpu } from '../gpu/device';
import { type LoadedModel, loadModel } from '../engine/model';
import { ModelConfigError } from '../errors';
import { loadAdapter } from '../train/peft';
import { readAdapterFolder } from './train';
import type { Judge } from '../tpo/judges';
import { type JudgeSpec, makeJudge, storedJudgeSpec } from '../tpo/judge-spec';
import { modelSource } from './model-arg';
import type { WeightDtypeChoice } from '../engine/weights';

/** Where a CLI judge comes from: --judge's string (or a stored spec), --judge-mode, the hub, --judge-dtype. */
export interface CliJudgeSource {
  /** --judge, or a run's stored judge (a spec, or the --judge string older runs kept). */
  judge: unknown;
  mode?: string;
  hubUrl?: string;
  /** How a local judge model (pairwise:, rm:) stores its weights (--judge-dtype). */
  dtype?: WeightDtypeChoice;
}

const readText = (path: string) => readFile(path, 'utf8');

/** The spec --judge (or a stored run) names; rules files are read here. */
export const cliJudgeSpec = (s: CliJudgeSource): Promise<JudgeSpec> => storedJudgeSpec(s.judge, readText, s.mode);

/** The judge a spec describes, its local models loaded from folders or the hub. */
export function cliJudge(spec: JudgeSpec, gpu: Gpu, s: Omit<CliJudgeSource, 'judge'> = {}): Promise<Judge> {
  const dtype = s.dtype ?? 'auto';
  return makeJudge(spec, {
    label: (model) => model,
    apiKey: process.env.TPO_JUDGE_KEY,
    loadModel: async (model, kind) =>
      kind === 'rm'
        ? loadRewardModel(model, gpu, s.hubUrl, dtype)
        : loadModel(gpu, await modelSource(model, { hubUrl: s.hubUrl }), {
            slots: 8,
            maxLen: 2048,
            weightDtype: dtype,
          }),
  });
}

/**
 * A reward model: a model folder or hub repo, or a PEFT adapter folder (`tpo rm` without --full:
 * LoRA + score head), loaded over the base its adapter_config.json names, as PEFT's AutoPeftModel does.
 */
export async function loadRewardModel(
  arg: string,
  gpu: Gpu,
  hubUrl: string | undefined,
  dtype: WeightDtypeChoice = 'auto',
): Promise<LoadedModel> {
  const adapter = existsSync(join(arg, 'adapter_config.json')) ? await readAdapterFolder(arg) : null;
  let base = arg;
  if (adapter) {
    let named: unknown;
    try {
      named = JSON.parse(new TextDecoder().decode(adapter.config)).base_model_name_or_path;
    } catch (e) {
      throw new ModelConfigError(`${arg}/adapter_config.json is not valid JSON (${(e as Error).message})`);
    }
    if (typeof named !== 'string' || !named)
      throw new ModelConfigError(`${arg}/adapter_config.json names no base_model_name_or_path`, 'Add the base model.');
    base = named;
  }
  const m = await loadModel(gpu, await modelSource(base, { hubUrl }), {
    ...{ slots: 8, maxLen: 4096, maxRows: 512, weightDtype: dtype },
  });
  if (adapter) {
    try {
      const a = loadAdapter(m.config, adapter.config, adapter.weights);
      m.attachAdapter(a.layout, a.values, a.score);
    } catch (e) {
      m.destroy();
      throw e;
    }
  }
  return m;
}
