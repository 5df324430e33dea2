// `tpo eval`: each iteration's TPO policy (thought hidden) against a baseline on held-out
// instructions; results go to the run folder's eval.json and to stdout.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Gpu } from '../gpu/device';
import { UsageError } from '../errors';
import { numberFlag } from './flags';
import { loadModel, type LoadedModel } from '../engine/model';
import { parseJsonl } from '../train/data';
import { loadAdapter } from '../train/peft';
import type { Judge } from '../tpo/judges';
import { evaluate, type EvalResult, type Side } from '../tpo/eval';
import { parseInstructions, type TpoOptions } from '../tpo/loop';
import { DIRECT } from '../tpo/prompts';
import { folderStore } from '../tpo/store-node';
import { dtypeFlag, modelSource } from './model-arg';
import { cliJudge, cliJudgeSpec } from './judge-arg';

export const EVAL_HELP = `tpo eval --run <run folder> --prompts held-out.jsonl [--baseline-run <folder>] [--judge SPEC]
         [--max-new-tokens N] [--temperature 0] [--dtype auto|f32|bf16|f16|q8|q4] [--judge-dtype …] [--json]
  --dtype / --judge-dtype: how the policy / a local judge model stores its weights (see tpo generate --dtype).
  Row "base": the untrained model with the thought prompt; row i: iteration i's adapter. The baseline is the
  --baseline-run's adapter of the same iteration (the direct-response baseline trained the same way), or the
  untrained model answering directly. Judged pair-wise in both orders; ties count ½.`;

async function side(
  store: Awaited<ReturnType<typeof folderStore>>,
  model: LoadedModel,
  o: TpoOptions,
  it: number | null,
  baseModel: string,
): Promise<Side> {
  if (it === null) return { prompt: o.prompt, adapter: null };
  const files = await store.readAdapter(it);
  if (!files) throw new UsageError(`the run has no adapter for iteration ${it}`);
  return {
    prompt: o.prompt,
    adapter: loadAdapter(model.config, files['adapter_config.json'], files['adapter_model.safetensors'], { baseModel }),
  };
}

/** Evaluates iterations (null = the untrained model) of a run; returns one row per iteration. */
export async function evalRun(
  model: LoadedModel,
  judge: Judge,
  runDir: string,
  baselineDir: string | undefined,
  items: ReturnType<typeof parseInstructions>,
  maxNewTokens: number,
  temperature: number,
): Promise<(EvalResult & { iteration: number | 'base' })[]> {
  const store = await folderStore(runDir);
  const cfg = await store.readConfig();
  if (!cfg) throw new UsageError(`${runDir} holds no TPO run`);
  const o = cfg.options as TpoOptions;
  const bStore = baselineDir ? await folderStore(baselineDir) : null;
  const bOpts = bStore ? ((await bStore.readConfig())?.options as TpoOptions | undefined) : undefined;
  if (bStore && !bOpts) throw new UsageError(`${baselineDir} holds no run`);
  const rows: (EvalResult & { iteration: number | 'base' })[] = [];
  const iterations: (number | null)[] = [null];
  for (let it = 0; (await store.readMetrics(it)) !== null; it++) iterations.push(it);
  for (const it of iterations) {
    const policy = await side(store, model, o, it, o.baseModel);
    const baseline: Side =
      bStore && it !== null ? await side(bStore, model, bOpts!, it, o.baseModel) : { prompt: DIRECT, adapter: null };
    const r = await evaluate(model, judge, items, policy, baseline, {
      maxNewTokens,
      temperature,
      topP: o.topP,
      seed: o.seed + 17,
      retries: 3,
    });
    rows.push({ iteration: it ?? 'base', ...r });
  }
  await writeFile(join(runDir, 'eval.json'), JSON.stringify(rows, null, 2) + '\n');
  return rows;
}

/** The command's flags (the docs test checks every documented flag against them). */
export const OPTIONS = {
  run: { type: 'string' },
  prompts: { type: 'string' },
  'baseline-run': { type: 'string' },
  judge: { type: 'string' },
  'max-new-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'hub-url': { type: 'string' },
  json: { type: 'boolean' },
  dtype: { type: 'string' },
  'judge-dtype': { type: 'string' },
} as const;

export async function evalCommand(argv: string[], gpu: Gpu): Promise<void> {
  const { values: a } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  if (!a.run || !a.prompts) throw new UsageError('tpo eval needs --run <folder> and --prompts <held-out.jsonl>');
  const cfg = await (await folderStore(a.run)).readConfig();
  if (!cfg) throw new UsageError(`${a.run} holds no TPO run`);
  const o = cfg.options as TpoOptions;
  const items = parseInstructions(
    parseJsonl<Record<string, unknown>>(
      await readFile(a.prompts, 'utf8').catch((e) => {
        throw new UsageError(`cannot read ${a.prompts}: ${e.message}`);
      }),
      a.prompts,
    ),
  );
  const model = await loadModel(
    gpu,
    await modelSource((cfg.model as string | null) ?? undefined, { hubUrl: a['hub-url'] }),
    { slots: 8, maxLen: Math.min(4096, o.maxLength + o.maxNewTokens), weightDtype: dtypeFlag(a.dtype) },
  );
  const judgeFrom = {
    judge: a.judge ?? cfg.judge,
    hubUrl: a['hub-url'],
    dtype: dtypeFlag(a['judge-dtype'], '--judge-dtype'),
  };
  const judge = await cliJudge(await cliJudgeSpec(judgeFrom), gpu, judgeFrom);
  const rows = await evalRun(
    model,
    judge,
    a.run,
    a['baseline-run'],
    items,
    numberFlag('max-new-tokens', a['max-new-tokens'], o.maxNewTokens, { integer: true, min: 1 }),
    numberFlag('temperature', a.temperature, 0, { min: 0 }),
  );
  for (const r of rows) {
    if (a.json) process.stdout.write(JSON.stringify(r) + '\n');
    else process.stdout.write(`${evalRow(r)}\n`);
  }
  model.destroy();
}

const pct = (x: number) => (100 * x).toFixed(1);

/** One row of `tpo eval`: win rate with its interval, length-adjusted win rate, parse failures and lengths. */
function evalRow(r: EvalResult & { iteration: number | 'base' }): string {
  const [lo, hi] = r.win_rate_ci95;
  const win = `win ${pct(r.win_rate)}% [${pct(lo)}, ${pct(hi)}]  length-adjusted ${pct(r.lc_win_rate)}%`;
  const thought = r.mean_thought_chars.toFixed(0);
  const lengths = `thought ${thought} / response ${r.mean_response_chars.toFixed(0)} chars`;
  const baseline = `(baseline ${r.baseline_response_chars.toFixed(0)})`;
  return `${String(r.iteration).padEnd(5)} ${win}  parse failures ${pct(r.parse_failure_rate)}%  ${lengths} ${baseline}`;
}
