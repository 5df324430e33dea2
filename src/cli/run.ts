// `tpo run`: TPO iterations on the GPU, recorded in a run folder and resumable.

import { readFile, writeFile } from 'node:fs/promises';
import { metricsToCsv } from '../tpo/export';
import { parseArgs } from 'node:util';
import type { Gpu } from '../gpu/device';
import { UsageError } from '../errors';
import { flags } from './flags';
import { loadModel } from '../engine/model';
import { parseJsonl } from '../train/data';
import { cliJudge, cliJudgeSpec } from './judge-arg';
import { checkPool, instructionsPerBatch, parseInstructions, type TpoOptions } from '../tpo/loop';
import { openRun, RUN_DEFAULTS, type RunProgress, type RunSettings, runTpoSession, tpoOptions } from '../tpo/run';
import { BUILTIN_PROMPTS, customPrompt, DIRECT, type ThoughtPrompt } from '../tpo/prompts';
import { evalRun } from './eval';
import type { EvalResult } from '../tpo/eval';
import type { IterationMetrics } from '../tpo/store';
import { join } from 'node:path';
import { folderStore } from '../tpo/store-node';
import { dtypeFlag, modelSource } from './model-arg';
import { loraFromFlags, TRAIN_FLAGS_HELP, TRAIN_OPTIONS, trainFromFlags, truncationFromFlags } from './train-flags';

export const RUN_HELP = `tpo run --prompts prompts.jsonl --out <run folder> [--model <folder|repo>] [--iterations 3] [--per-iteration N]
        [--samples 8] [--temperature 0.8] [--top-p 0.95] [--max-new-tokens 512]
        [--thought-prompt generic|specific|native|direct|FILE] [--separator TEXT]
        [--judge rules:<spec.json>|http:<url>#<model>|pairwise:<model>|rm:<model>] [--judge-mode pairwise|pointwise]
        [--length-penalty 0] [--sample-batch N] [training flags of tpo dpo] [--validation 0] [--baseline]
        [--eval-prompts held-out.jsonl] [--dtype auto|f32|bf16|f16|q8|q4] [--judge-dtype …]
        [--resume] [--json]

  training flags: ${TRAIN_FLAGS_HELP}

  prompts.jsonl rows: {"instruction": "...", "id"?: "...", ...fields for the judge, e.g. "answer"}
  --thought-prompt FILE: a template containing {instruction}; --separator marks where the response starts.
  --thought-prompt native: the model's own <think> block is the hidden thought (a chat template that knows
    enable_thinking, e.g. Qwen3); with every other prompt such a template is rendered with enable_thinking off.
  --judge rules:<spec.json>: a JSON list of rules (exact, numeric, regex, json, length, keywords; each with a weight).
  --judge http:<url>#<model>: an OpenAI-compatible endpoint (key in TPO_JUDGE_KEY, never written to the run).
  --judge pairwise:<model>: a local model judges every ordered pair, scores by Bradley–Terry.
  --judge rm:<model>: a local reward model (*ForSequenceClassification: Llama, Qwen2, Qwen3; or a tpo rm adapter
    folder, loaded over its base) scores each response.
  The run folder holds config.json, samples-<i>.jsonl, pairs-<i>.jsonl (TRL), adapter-<i>/ (PEFT), metrics-<i>.json, metrics.csv.
  --validation N: N prompts an iteration, fresh each iteration, from the end of the file and never trained on;
    after every DPO epoch the adapter answers them greedily, the judge ranks it against the other epochs and
    the iteration's starting model, and the best is kept (the paper's checkpoint selection; guards against
    over-optimised iterations). 0: the last epoch.
  --sample-batch N: at most N sequences per sampling batch (default: as many as fit, up to 64).
  --resume continues an interrupted run (or extends it with a larger --iterations) with the model and settings
    it recorded; a different --model is refused, other differing flags are ignored (and said so).
  --dtype / --judge-dtype: how the policy / a local judge model (pairwise:, rm:) stores its weights on the GPU
    (see tpo generate --dtype; q4 makes a policy and a judge fit together). Not recorded: a resumed run may
    use another, the adapters being ordinary PEFT adapters either way.
  --baseline also trains the direct-response baseline the same way (no thought prompt) in <out>/baseline.
  --eval-prompts: afterwards, every iteration against the baseline on held-out instructions (see tpo eval).`;

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];

/** The command's flags (the docs test checks every documented flag against them). */
export const OPTIONS = {
  prompts: { type: 'string' },
  out: { type: 'string' },
  model: { type: 'string' },
  iterations: { type: 'string' },
  'per-iteration': { type: 'string' },
  samples: { type: 'string' },
  temperature: { type: 'string' },
  'top-p': { type: 'string' },
  'max-new-tokens': { type: 'string' },
  'thought-prompt': { type: 'string' },
  separator: { type: 'string' },
  judge: { type: 'string' },
  'judge-mode': { type: 'string' },
  'length-penalty': { type: 'string' },
  'sample-batch': { type: 'string' },
  ...TRAIN_OPTIONS,
  'hub-url': { type: 'string' },
  resume: { type: 'boolean' },
  json: { type: 'boolean' },
  baseline: { type: 'boolean' },
  'eval-prompts': { type: 'string' },
  validation: { type: 'string' },
  dtype: { type: 'string' },
  'judge-dtype': { type: 'string' },
} as const;

async function thoughtPrompt(spec: string | undefined, separator: string | undefined): Promise<ThoughtPrompt> {
  const name = spec ?? 'generic';
  if (BUILTIN_PROMPTS[name]) return BUILTIN_PROMPTS[name];
  let text: string;
  try {
    text = await readFile(name, 'utf8');
  } catch {
    throw new UsageError(`--thought-prompt ${name}: not generic, specific, native, direct, or a readable file`);
  }
  return customPrompt(text.replace(/\n$/, ''), separator, undefined, name);
}

/** The run's settings from the flags (absent flags take RUN_DEFAULTS). */
async function settingsFromFlags(a: Flags, poolSize: number): Promise<{ settings: RunSettings; iterations: number }> {
  const num = flags(a);
  const d = RUN_DEFAULTS;
  const iterations = num('iterations', d.iterations, { integer: true, min: 1 });
  const validation = num('validation', d.validation, { integer: true, min: 0 });
  const perIteration = Math.max(1, Math.floor(poolSize / iterations) - validation);
  const train = trainFromFlags(a);
  const trunc = truncationFromFlags(a);
  const lora = loraFromFlags(a);
  const settings: RunSettings = {
    prompt: await thoughtPrompt(a['thought-prompt'], a.separator),
    baseModel: a.model ?? 'tpo-demo',
    samples: num('samples', d.samples, { integer: true, min: 2 }),
    temperature: num('temperature', d.temperature, { min: 0 }),
    topP: num('top-p', d.topP, { min: 0, max: 1, minExclusive: true }),
    seed: num('seed', d.seed, { integer: true, min: 0 }),
    maxNewTokens: num('max-new-tokens', d.maxNewTokens, { integer: true, min: 1 }),
    perIteration: num('per-iteration', perIteration, { integer: true, min: 1 }),
    rho: num('length-penalty', d.rho, { min: 0 }),
    loraR: lora.r,
    loraAlpha: lora.alpha,
    targets: lora.targets,
    beta: train.beta,
    lr: train.lr,
    epochs: train.epochs,
    batchSize: train.batchSize,
    train: {
      gradAccum: train.gradAccum,
      labelSmoothing: train.labelSmoothing,
      warmupSteps: train.warmupSteps,
      schedule: train.schedule,
      maxGradNorm: train.maxGradNorm,
      weightDecay: train.weightDecay,
    },
    maxLength: trunc.maxLength,
    truncation: {
      maxPromptLength: trunc.maxPromptLength,
      maxCompletionLength: trunc.maxCompletionLength,
      mode: trunc.mode,
    },
    validation,
    ...(a['sample-batch'] ? { sampleBatch: num('sample-batch', 0, { integer: true, min: 1 }) } : {}),
  };
  return { settings, iterations };
}

/** A resumed run trains over the model it recorded; a different --model is refused. */
function checkModel(flag: string | undefined, run: Record<string, unknown>, out: string): void {
  const recorded = typeof run.model === 'string' ? run.model : null;
  if (flag !== undefined && flag !== (recorded ?? 'tpo-demo'))
    throw new UsageError(
      `${out} holds a run over --model ${recorded ?? 'tpo-demo (the default)'}, not ${flag}`,
      'Drop --model to resume it with its own model, or choose another --out for a new run.',
    );
}

/** On resume the recorded settings win: says which flags of this call they override. */
function sayIgnored(flagged: TpoOptions, recorded: TpoOptions, unset: string[]): void {
  // Settings a run recorded before they existed (undefined there) keep their old behaviour: not named.
  const differs = (a: object, b: object) =>
    Object.keys(b).filter(
      (k) =>
        (b as Record<string, unknown>)[k] !== undefined &&
        JSON.stringify((a as Record<string, unknown>)[k]) !== JSON.stringify((b as Record<string, unknown>)[k]),
    );
  const keys = [
    ...differs({ ...flagged, train: null }, { ...recorded, train: null }).filter((k) => !unset.includes(k)),
    ...differs(flagged.train, recorded.train).map((k) => `train.${k}`),
  ];
  if (keys.length)
    process.stderr.write(
      `tpo: resuming with the run's recorded settings; these flags differ and are ignored: ${keys.join(', ')}\n`,
    );
}

/** A progress line on stderr: redrawn in place on a terminal, at stage starts and ends otherwise. */
function progressLine(tag: string) {
  const tty = process.stderr.isTTY;
  return (p: RunProgress) => {
    const eta = p.etaSeconds !== null && p.done < p.total ? ` ETA ${Math.ceil(p.etaSeconds)}s` : '';
    const width = 20;
    const filled = p.total ? Math.round((width * p.done) / p.total) : 0;
    const bar = tty ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ` : '';
    const judge = p.judgeTokensPerSecond !== undefined ? ` ${p.judgeTokensPerSecond.toFixed(1)} judge tok/s` : '';
    const line = `${tag}iteration ${p.iteration} ${p.stage} ${bar}${p.done}/${p.total}${judge}${eta}`;
    if (tty) process.stderr.write(`\r${line}\x1b[K`);
    else if (p.done === p.total || p.done === 0) process.stderr.write(`${line}\n`);
  };
}

async function readPrompts(file: string) {
  const text = await readFile(file, 'utf8').catch((e) => {
    throw new UsageError(`cannot read ${file}: ${e.message}`);
  });
  return parseInstructions(parseJsonl<Record<string, unknown>>(text, file));
}

export async function runCommand(argv: string[], gpu: Gpu): Promise<void> {
  const { values: a } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  if (!a.prompts) throw new UsageError('tpo run needs --prompts <prompts.jsonl>');
  if (!a.out) throw new UsageError('tpo run needs --out <run folder>');
  if (!a.judge) throw new UsageError('tpo run needs --judge', 'e.g. --judge rules:judge.json');
  const store = await folderStore(a.out);
  const pool = await readPrompts(a.prompts);
  const { settings, iterations } = await settingsFromFlags(a, pool.length);
  const judgeFrom = {
    mode: a['judge-mode'],
    hubUrl: a['hub-url'],
    dtype: dtypeFlag(a['judge-dtype'], '--judge-dtype'),
  };
  // a resumed run keeps the judge it was started with: this call's --judge is read only for a new run
  // (so a rules file deleted since does not stop a resume)
  const stored = (await store.readConfig()) as { options?: unknown; judge?: unknown } | null;
  const judgeSpec =
    stored?.options && stored.judge ? stored.judge : await cliJudgeSpec({ ...judgeFrom, judge: a.judge });
  const record = { judge: judgeSpec, prompts: a.prompts, model: a.model ?? null, created: new Date().toISOString() };
  const fresh = { ...record, options: tpoOptions(settings, pool.length, iterations), iterations };
  const run = await openRun(store, fresh, {
    requireResume: { asked: !!a.resume, where: a.out },
    check: (r) => {
      // before anything is written
      checkModel(a.model, r, a.out!);
      checkPool(pool.length, r.options, r.iterations);
    },
  });
  const o = run.options;
  if (run.created !== fresh.created) {
    // Settings this call did not pass (a model, the slice size derived from --iterations) are not "ignored".
    const unset = [
      ...(a.model === undefined ? ['baseModel'] : []),
      ...(a['per-iteration'] === undefined ? ['perIteration'] : []),
    ];
    sayIgnored(fresh.options, o, unset);
  }
  const recordedModel = typeof run.model === 'string' ? run.model : undefined;
  const model = await loadModel(gpu, await modelSource(recordedModel, { hubUrl: a['hub-url'] }), {
    maxSlots: Math.max(64, o.samples), // wide sampling batches, as many as fit
    maxLen: Math.min(4096, o.maxLength + o.maxNewTokens),
    weightDtype: dtypeFlag(a.dtype),
  });
  if (!model.tokenizer)
    throw new UsageError(
      'TPO needs a model with a tokenizer (tokenizer.json)',
      'stories260K has none: pass --model with a chat model (the default, tpo-demo, has one).',
    );
  // a resumed run keeps the judge it was started with
  const judge = await cliJudge(await cliJudgeSpec({ ...judgeFrom, judge: run.judge }), gpu, judgeFrom);
  const slots = model.forward.shape.slots;
  const per = instructionsPerBatch(slots, o);
  process.stderr.write(`tpo: sampling ${per} instruction(s) × K = ${o.samples} a batch (${slots} sequences fit)\n`);
  const metrics = await runTpoSession({ model, judge, store }, pool, run, { onProgress: progressLine('') });
  const baselineDir = join(a.out, 'baseline');
  if (a.baseline) {
    // The fair comparison: the same loop, judge and loss, but no thought prompt.
    const bStore = await folderStore(baselineDir);
    const bRun = await openRun(bStore, { ...run, options: { ...o, prompt: DIRECT } });
    await runTpoSession({ model, judge, store: bStore }, pool, bRun, { onProgress: progressLine('baseline ') });
  }
  if (process.stderr.isTTY) process.stderr.write('\n');
  await writeFile(join(a.out, 'metrics.csv'), metricsToCsv(metrics));
  for (const m of metrics) {
    const { dpo, ...rest } = m;
    if (a.json) process.stdout.write(`${JSON.stringify({ ...rest, dpo_last: dpo[dpo.length - 1] ?? null })}\n`);
    else process.stdout.write(`${iterationLine(m)}\n`);
  }
  if (a['eval-prompts']) {
    const items = parseInstructions(
      parseJsonl<Record<string, unknown>>(await readFile(a['eval-prompts'], 'utf8'), a['eval-prompts']),
    );
    for (const r of await evalRun(
      model,
      judge,
      a.out,
      a.baseline ? baselineDir : undefined,
      items,
      o.maxNewTokens,
      0,
    )) {
      process.stdout.write(a.json ? `${JSON.stringify({ eval: r })}\n` : `${evalLine(r)}\n`);
    }
  }
  model.destroy();
}

const pct = (x: number) => (100 * x).toFixed(1);

/** One iteration's summary: pairs, parse failures, score, lengths, the last DPO step, the kept epoch. */
function iterationLine(m: IterationMetrics): string {
  const last = m.dpo[m.dpo.length - 1];
  const parts = [
    `iteration ${m.iteration}: ${m.pairs} pairs (${m.skipped_all_tied} tied, ${m.skipped_too_few ?? 0} too few)`,
    `parse failures ${pct(m.parse_failure_rate)}%`,
    `mean score ${m.mean_score.toFixed(3)}`,
    `thought ${m.mean_thought_chars.toFixed(0)} chars`,
    `response ${m.mean_response_chars.toFixed(0)} chars`,
  ];
  if (last) parts.push(`DPO loss ${last.loss.toFixed(4)} acc ${last['rewards/accuracies']?.toFixed(2)}`);
  const sel = m.selection;
  if (sel) {
    const kept = sel.candidates.find((c) => c.epoch === sel.chosen_epoch);
    const share = kept ? kept.win_share.toFixed(2) : '?';
    parts.push(`kept epoch ${sel.chosen_epoch} of ${sel.candidates.length - 1} (validation win share ${share})`);
  }
  return parts.join(', ');
}

function evalLine(r: EvalResult & { iteration: number | 'base' }): string {
  const [lo, hi] = r.win_rate_ci95;
  const lc = `length-adjusted ${pct(r.lc_win_rate)}%`;
  const failures = `parse failures ${pct(r.parse_failure_rate)}%`;
  return `eval ${r.iteration}: win ${pct(r.win_rate)}% [${pct(lo)}, ${pct(hi)}] ${lc} ${failures}`;
}
