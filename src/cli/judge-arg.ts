// The --judge argument: rules:<spec.json> | http:<url>#<model> | pairwise:<model>.

import { readFile } from 'node:fs/promises';
import type { Gpu } from '../gpu/device';
import { UsageError } from '../errors';
import { loadModel } from '../engine/model';
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
  if (kind === 'rm') {
    const rm = await loadModel(gpu, await modelSource(arg, { hubUrl }), {
      ...{ slots: 8, maxLen: 4096, maxRows: 512, weightDtype: dtype },
    });
    return rewardModelJudge(rm, arg);
  }
  throw new UsageError(
    `--judge ${spec}: unknown kind`,
    'Use rules:<spec.json>, http:<url>#<model>, pairwise:<model> or rm:<model>.',
  );
}
