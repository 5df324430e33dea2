// The --judge argument: rules:<spec.json> | http:<url>#<model> | pairwise:<model> | rm:<model or adapter>.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Gpu } from '../gpu/device';
import { UsageError } from '../errors';
import { type LoadedModel, loadModel } from '../engine/model';
import { ModelConfigError } from '../errors';
import { loadAdapter } from '../train/peft';
import { readAdapterFolder } from './train';
import { httpJudge, rulesJudge, type Judge, type Rule } from '../tpo/judges';
import { enginePairwiseJudge } from '../tpo/engine-judge';
import { rewardModelJudge } from '../tpo/rm-judge';
import { modelSource } from './model-arg';
import type { WeightDtypeChoice } from '../engine/weights';

/** `dtype`: how a local judge model (pairwise:, rm:) stores its weights (--judge-dtype). */
export async function makeJudge(
  spec: string,
  mode: string | undefined,
  gpu: Gpu,
  hubUrl?: string,
  dtype: WeightDtypeChoice = 'auto',
): Promise<Judge> {
  const [kind, ...rest] = spec.split(':');
  const arg = rest.join(':');
  if (kind === 'rules') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(arg, 'utf8'));
    } catch (e) {
      throw new UsageError(`--judge rules:${arg}: ${(e as Error).message}`);
    }
    return rulesJudge((Array.isArray(parsed) ? parsed : (parsed as { rules: Rule[] }).rules) as Rule[], `rules:${arg}`);
  }
  if (kind === 'http') {
    const [url, model] = arg.split('#');
    if (!url || !model)
      throw new UsageError('--judge http:<url>#<model>, e.g. http:http://localhost:8000/v1#qwen2.5-7b-instruct');
    return httpJudge({
      baseUrl: url,
      model,
      apiKey: process.env.TPO_JUDGE_KEY,
      mode: mode === 'pointwise' ? 'pointwise' : 'pairwise',
    });
  }
  if (kind === 'pairwise') {
    const jm = await loadModel(gpu, await modelSource(arg, { hubUrl }), { slots: 8, maxLen: 2048, weightDtype: dtype });
    return enginePairwiseJudge(jm, arg);
  }
  if (kind === 'rm') return rewardModelJudge(await loadRewardModel(arg, gpu, hubUrl, dtype), arg);
  throw new UsageError(
    `--judge ${spec}: unknown kind`,
    'Use rules:<spec.json>, http:<url>#<model>, pairwise:<model> or rm:<model>.',
  );
}

/**
 * A reward model: a model folder or hub repo, or a PEFT adapter folder (`tpo rm` without --full:
 * LoRA + score head), loaded over the base its adapter_config.json names, as PEFT's AutoPeftModel does.
 */
async function loadRewardModel(
  arg: string,
  gpu: Gpu,
  hubUrl: string | undefined,
  dtype: WeightDtypeChoice,
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
