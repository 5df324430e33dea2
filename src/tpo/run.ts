// A TPO run, orchestrated once for the CLI (`tpo run`) and the app's worker: the settings and
// their defaults, the checks before anything is written, the resume rules, progress with rate and
// ETA, pause and cancel between units, and the held-out evaluation after each iteration. The CLI
// and the worker only turn their inputs (flags, a form) into RunSettings and show the progress.

import { UsageError } from '../errors';
import type { LoadedModel } from '../engine/model';
import { DEFAULT_LORA, TARGETS, type Target } from '../train/lora';
import { DEFAULT_TRAIN, type StepMetrics, type TrainOptions } from '../train/trainer';
import { evaluate } from './eval';
import type { Judge } from './judges';
import { adapterOf, checkPool, runTpo, type TpoContext, type TpoOptions } from './loop';
import type { Instruction } from './instructions';
import { DIRECT, type ThoughtPrompt } from './prompts';
import type { IterationMetrics, RunStore } from './store';
import { PAPER_SAMPLING } from './sampling';

/** What a user chooses for a run; anything absent takes RUN_DEFAULTS (the paper's settings). */
export interface RunSettings {
  prompt: ThoughtPrompt;
  /** The model the adapters are trained over (recorded in each adapter's config). */
  baseModel: string;
  samples?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  maxNewTokens?: number;
  /** Instructions per iteration (default: the pool split evenly over the iterations). */
  perIteration?: number;
  /** Length penalty ρ. */
  rho?: number;
  maxLength?: number;
  validation?: number;
  loraR?: number;
  loraAlpha?: number;
  targets?: Target[];
  beta?: number;
  lr?: number;
  epochs?: number;
  batchSize?: number;
  /** Any other DPO setting (gradient accumulation, label smoothing, warmup, schedule, clipping, weight decay). */
  train?: Partial<TrainOptions>;
  /** TRL's prompt/completion truncation (train/data.ts); absent: TRL's defaults at maxLength. */
  truncation?: TpoOptions['truncation'];
  /** Sequences per sampling batch (absent: as many as the model holds). */
  sampleBatch?: number;
}

export const RUN_DEFAULTS = {
  iterations: 3,
  samples: 8,
  ...PAPER_SAMPLING,
  seed: 0,
  maxNewTokens: 512,
  rho: 0,
  maxLength: 1024,
  validation: 0,
  // the adapter's and the trainer's own defaults, named here for the forms and flags
  loraR: DEFAULT_LORA.r,
  loraAlpha: DEFAULT_LORA.alpha,
  beta: DEFAULT_TRAIN.beta,
  lr: DEFAULT_TRAIN.lr,
  epochs: DEFAULT_TRAIN.epochs,
  batchSize: DEFAULT_TRAIN.batchSize,
};

/** The loop's options from the user's settings: defaults filled in, the slice size derived. */
export function tpoOptions(s: RunSettings, poolSize: number, iterations: number): TpoOptions {
  const d = RUN_DEFAULTS;
  const validation = s.validation ?? d.validation;
  return {
    prompt: s.prompt,
    samples: s.samples ?? d.samples,
    temperature: s.temperature ?? d.temperature,
    topP: s.topP ?? d.topP,
    seed: s.seed ?? d.seed,
    maxNewTokens: s.maxNewTokens ?? d.maxNewTokens,
    perIteration: s.perIteration ?? Math.max(1, Math.floor(poolSize / iterations) - validation),
    rho: s.rho ?? d.rho,
    lora: {
      ...DEFAULT_LORA,
      r: s.loraR ?? d.loraR,
      alpha: s.loraAlpha ?? d.loraAlpha,
      targets: s.targets ?? [...TARGETS],
    },
    train: {
      ...DEFAULT_TRAIN,
      ...s.train,
      beta: s.beta ?? d.beta,
      lr: s.lr ?? d.lr,
      epochs: s.epochs ?? d.epochs,
      batchSize: s.batchSize ?? d.batchSize,
    },
    maxLength: s.maxLength ?? d.maxLength,
    ...(s.truncation ? { truncation: s.truncation } : {}),
    ...(s.sampleBatch ? { sampleBatch: s.sampleBatch } : {}),
    baseModel: s.baseModel,
    validation,
  };
}

/** The record a run keeps in its store's config: what it was started with. */
export interface RunRecord extends Record<string, unknown> {
  options: TpoOptions;
  /** The judge's settings (never an API key). */
  judge: unknown;
  iterations: number;
}

/**
 * The resume rules. A new run records `fresh`. A stored run keeps every recorded setting — the
 * options, the judge, the model, the instructions — and only its iteration count may grow.
 * `requireResume`: a stored run is refused unless the caller asked to resume (the CLI's --resume).
 * `check` sees the run before anything is written (e.g. that the pool is large enough).
 */
export async function openRun(
  store: RunStore,
  fresh: RunRecord,
  o: { requireResume?: { asked: boolean; where: string }; check?: (run: RunRecord) => void } = {},
): Promise<RunRecord> {
  const stored = (await store.readConfig()) as Partial<RunRecord> | null;
  if (stored && o.requireResume && !o.requireResume.asked)
    throw new UsageError(
      `${o.requireResume.where} already holds a run`,
      'Pass --resume to continue it, or choose another --out.',
    );
  if (!stored?.options) {
    o.check?.(fresh);
    await store.writeConfig(fresh);
    return fresh;
  }
  const iterations = Math.max(fresh.iterations, Number(stored.iterations ?? 0));
  const run = { ...fresh, ...stored, options: stored.options, judge: stored.judge ?? fresh.judge, iterations };
  o.check?.(run);
  if (iterations !== stored.iterations) await store.writeConfig(run);
  return run;
}

/** The loop's progress with the call's decode rate and an ETA for the current stage. */
export interface RunProgress {
  iteration: number;
  stage: 'sampling' | 'judging' | 'training' | 'evaluating';
  done: number;
  total: number;
  tokensPerSecond: number;
  /** While judging with a judge model on our engine: the tokens it reads and writes a second, this stage. */
  judgeTokensPerSecond?: number;
  etaSeconds: number | null;
}

/** Adds tokens/s (the policy's, over the whole call; the judge model's, over the judging stage) and
 *  an ETA (from this stage's rate so far) to raw progress. */
export function progressMeter(model: LoadedModel, onProgress?: (p: RunProgress) => void, judge?: Judge) {
  const t0 = performance.now();
  const tokens0 = model.generator.timings.decodeTokens;
  let stage = '';
  let stageStart = t0;
  let stageDone = 0;
  let judgeTokens0 = 0;
  return (p: Omit<RunProgress, 'tokensPerSecond' | 'judgeTokensPerSecond' | 'etaSeconds'>) => {
    const now = performance.now();
    if (`${p.iteration}.${p.stage}` !== stage)
      [stage, stageStart, stageDone, judgeTokens0] = [
        `${p.iteration}.${p.stage}`,
        now,
        p.done,
        judge?.stats?.tokens ?? 0,
      ];
    const secs = Math.max(1e-3, (now - stageStart) / 1000);
    const rate = (p.done - stageDone) / secs;
    const etaSeconds = rate > 0 && p.done < p.total ? (p.total - p.done) / rate : p.done >= p.total ? 0 : null;
    const tokensPerSecond = (model.generator.timings.decodeTokens - tokens0) / Math.max(1e-3, (now - t0) / 1000);
    const judging = p.stage === 'judging' && judge?.stats;
    const judgeRate = judging ? { judgeTokensPerSecond: (judging.tokens - judgeTokens0) / secs } : {};
    onProgress?.({ ...p, tokensPerSecond, ...judgeRate, etaSeconds });
  };
}

/** Pause and cancel, checked between units of work (a paused run holds; a cancelled one throws). */
export class RunControl {
  private paused: { promise: Promise<void>; release: () => void } | null = null;
  readonly abort = new AbortController();

  pause(): void {
    if (this.paused) return;
    let release = () => {};
    const promise = new Promise<void>((r) => (release = r));
    this.paused = { promise, release };
  }

  resume(): void {
    this.paused?.release();
    this.paused = null;
  }

  cancel(): void {
    this.abort.abort();
    this.resume();
  }

  async between(): Promise<void> {
    if (this.paused) await this.paused.promise;
    if (this.abort.signal.aborted)
      throw new UsageError('the run was cancelled', 'Start it again with the same run id to resume.');
  }
}

export interface RunHooks {
  onProgress?: (p: RunProgress) => void;
  onStep?: (step: StepMetrics, iteration: number) => void;
  onIteration?: (m: IterationMetrics) => void;
  control?: RunControl;
  /** Instructions never trained on: after each iteration its adapter (thought hidden) is judged
   *  against the untrained model answering directly, and the win rate is stored with its metrics. */
  heldOut?: Instruction[];
  /** How to describe the pool and what to change when it is too small (checkPool's `has`, `hint`). */
  pool?: { has: (n: number) => string; hint: string };
}

/** Runs (or resumes) `run.iterations` TPO iterations of `pool`, from the base model. */
export async function runTpoSession(
  env: { model: LoadedModel; judge: Judge; store: RunStore },
  pool: Instruction[],
  run: RunRecord,
  hooks: RunHooks = {},
): Promise<IterationMetrics[]> {
  const { model, judge, store } = env;
  const o = run.options;
  checkPool(pool.length, o, run.iterations, hooks.pool?.has, hooks.pool?.hint);
  const progress = progressMeter(model, hooks.onProgress, judge);
  let iteration = 0;
  const ctx: TpoContext = {
    model,
    judge,
    store,
    signal: hooks.control?.abort.signal,
    between: () => hooks.control?.between() ?? Promise.resolve(),
    onStep: (step) => hooks.onStep?.(step, iteration),
    onIteration: hooks.onIteration,
    onProgress: (p) => {
      iteration = p.iteration;
      progress(p);
    },
    afterIteration: (m) => evaluateHeldOut(ctx, m, o, hooks.heldOut ?? [], progress),
  };
  model.detachAdapter(); // a run starts from the base model (its own adapters are M_1, M_2, …)
  const out = await runTpo(ctx, pool, o, run.iterations);
  model.detachAdapter();
  return out;
}

/** The held-out win rate of an iteration's adapter, stored with its metrics (once: a resume skips it). */
async function evaluateHeldOut(
  ctx: TpoContext,
  metrics: IterationMetrics,
  o: TpoOptions,
  heldOut: Instruction[],
  progress: ReturnType<typeof progressMeter>,
): Promise<void> {
  if (!heldOut.length || metrics.eval) return;
  await ctx.between?.();
  const iteration = metrics.iteration;
  const total = heldOut.length;
  progress({ iteration, stage: 'evaluating', done: 0, total });
  const policy = { prompt: o.prompt, adapter: await adapterOf(ctx, iteration + 1, o) };
  const sampling = { maxNewTokens: o.maxNewTokens, temperature: 0, topP: 1, seed: o.seed, retries: 2 };
  const r = await evaluate(ctx.model, ctx.judge, heldOut, policy, { prompt: DIRECT, adapter: null }, sampling);
  metrics.eval = { ...r };
  await ctx.store.writeMetrics(iteration, metrics);
  progress({ iteration, stage: 'evaluating', done: total, total });
  ctx.onIteration?.(metrics);
}

/** Splits instructions into the training pool and the last `count` held out for the win rate
 *  (at least one instruction always stays in the pool). */
export function holdOut(all: Instruction[], count: number): { pool: Instruction[]; heldOut: Instruction[] } {
  const n = Math.min(count, Math.max(0, all.length - 1));
  return { pool: all.slice(0, all.length - n), heldOut: all.slice(all.length - n) };
}
