// The benchmark's measurements, browser-safe: decode and prefill rows of a checkpoint at each
// batch and weight type, against the hardware floor measured on the same device in the same run,
// and one DPO step against a forward. `bench/bench.ts` runs them in Node (Dawn); `bench/browser.ts`
// runs them in headless Chromium's worker (the app's path) and prints the same rows.

import type { Gpu } from '../src/gpu/device';
import type { WeightType } from '../src/gpu/shaders';
import type { Checkpoint } from '../src/model/checkpoint';
import { Forward } from '../src/engine/forward';
import { Generator } from '../src/engine/generate';
import { chooseWeightType, destroyWeights, uploadWeights, type WeightDtypeChoice } from '../src/engine/weights';
import type { Seq } from '../src/train/data';
import { FullParams } from '../src/train/full';
import { LoraLayout, LoraState, TARGETS } from '../src/train/lora';
import { DEFAULT_TRAIN, Trainer } from '../src/train/trainer';
import { copyGbps, dispatchMicros, type Floor, floorOf } from './floor';

/** What to measure (the flags of `npm run bench`, resolved). */
export interface BenchPlan {
  models: string[];
  batches: number[];
  promptTokens: number;
  newTokens: number;
  dtypes: WeightDtypeChoice[];
  profile: boolean;
  /** Tokens per side of the DPO pair; 0: no training rows. */
  trainTokens: number;
}

export type CheckpointLoader = (name: string) => Promise<Checkpoint>;

const sig3 = (x: number) => Number(x.toPrecision(3));
const roundFloor = (f: Floor): Floor => ({ floor_ms: sig3(f.floor_ms), floor_efficiency: sig3(f.floor_efficiency) });

export interface Row {
  model: string;
  layers: number;
  weights: string;
  batch: number;
  prompt_tokens: number;
  new_tokens: number;
  prefill_tokens_per_s: number;
  decode_tokens_per_s: number;
  ms_per_decode_step: number;
  dispatches_per_decode_step: number;
  submits_per_decode_step: number;
  /** Bytes of the weights on the GPU (16-bit checkpoints stay 16-bit). */
  weight_bytes: number;
  /** Measured in this run on this device (bench/floor.ts). */
  dispatch_us: number;
  copy_gbps: number;
  floor_ms: number;
  floor_efficiency: number;
  adapter: string;
  /** The optional WebGPU features the device was granted that the engine uses ("shader-f16,subgroups", or "none"). */
  features: string;
  /** --profile: GPU milliseconds per step name for one decode step (timestamp queries). */
  profile?: Record<string, number>;
}

/** The optional features granted that the engine uses. */
export function featuresOf(gpu: Gpu): string {
  return [gpu.hasF16 && 'shader-f16', gpu.hasSubgroups && 'subgroups'].filter(Boolean).join(',') || 'none';
}

/** Rows of one model for each weight type asked for (a type equal to an earlier one is skipped). */
async function rowsFor(
  gpu: Gpu,
  ck: Checkpoint,
  name: string,
  dtypes: WeightDtypeChoice[],
  ...rest: [number[], number, number, boolean, { dispatch_us: number; copy_gbps: number }]
): Promise<Row[]> {
  const types = [...new Set(dtypes.map((d) => chooseWeightType(ck, d)))];
  const rows: Row[] = [];
  for (const wt of types) rows.push(...(await benchModel(gpu, name, ck, ...rest, wt)));
  return rows;
}

/** Decode and prefill rows of a loaded checkpoint with its weights stored as `wt`. */
async function benchModel(
  gpu: Gpu,
  name: string,
  ck: Checkpoint,
  batches: number[],
  P: number,
  N: number,
  profile: boolean,
  hw: { dispatch_us: number; copy_gbps: number },
  wt: WeightType,
): Promise<Row[]> {
  const weights = uploadWeights(gpu, ck, wt);
  const cfg = ck.config;
  const rows: Row[] = [];
  for (const B of batches) {
    const fwd = new Forward(gpu, cfg, weights, { slots: B, maxLen: P + N + 1, maxRows: Math.min(B * P, 512) });
    const gen = new Generator(fwd);
    const prompts = Array.from({ length: B }, (_, b) =>
      Array.from({ length: P }, (_, i) => (1 + b * 7919 + i * 104729) % cfg.vocab),
    );
    const opts = { temperature: 0.8, topP: 0.95, seed: 1, eosTokenIds: [] };
    await gen.generate(prompts, { ...opts, maxNewTokens: 2 }); // warm-up: pipelines, caches
    gen.resetTimings();
    await gen.generate(prompts, { ...opts, maxNewTokens: N });
    const t = gen.timings;
    const ms = t.decodeMs / t.decodeSteps;
    const dispatches = t.decodeDispatches / t.decodeSteps;
    rows.push({
      model: name,
      layers: cfg.layers,
      weights: wt,
      batch: B,
      prompt_tokens: P,
      new_tokens: N,
      prefill_tokens_per_s: round(t.prefillTokens / (t.prefillMs / 1000)),
      decode_tokens_per_s: round(t.decodeTokens / (t.decodeMs / 1000)),
      ms_per_decode_step: round(ms),
      dispatches_per_decode_step: dispatches,
      submits_per_decode_step: t.decodeSubmits / t.decodeSteps,
      weight_bytes: weights.bytes,
      ...hw,
      ...roundFloor(floorOf(weights.bytes, dispatches, ms, hw.dispatch_us, hw.copy_gbps)),
      adapter: gpu.adapterName,
      features: featuresOf(gpu),
    });
    if (profile && gpu.device.features.has('timestamp-query')) {
      // The rows/ids of the last decode step are still in place: profile that step again.
      const ms = await fwd.profile(B, B, true);
      rows[rows.length - 1].profile = Object.fromEntries([...ms].map(([k, v]) => [k, round(v)]));
    }
    gen.destroy();
    fwd.destroy();
  }
  destroyWeights(weights);
  return rows;
}

export interface TrainRow {
  model: string;
  layers: number;
  weights: string;
  pair_tokens: string;
  lora_r: number;
  forward_ms: number;
  dpo_step_ms: number;
  step_over_forward: number;
  /**
   * One full-parameter SFT step (every weight, AdamW) over the same 2×T tokens; only for f32
   * checkpoints of at most FULL_SFT_MAX_PARAMS parameters (the demo model's path), else null.
   */
  full_sft_step_ms: number | null;
  /** The DPO step's tokens (both sides of the pair) per second. */
  dpo_tokens_per_s: number;
  /**
   * The workload others publish (github kvark/inferena, models/SmolLM2-135M.md): full-parameter
   * forward + cross-entropy loss + backward of every weight over one sequence of T tokens, f32
   * weights, no optimizer step; for models of at most FULL_TRAIN_MAX_PARAMS parameters, else null.
   */
  full_train: FullTrainRow | null;
  adapter: string;
}

export interface FullTrainRow {
  tokens: number;
  forward_ms: number;
  fwd_loss_bwd_ms: number;
  tokens_per_s: number;
  over_forward: number;
}

/** Full-parameter training keeps 4 f32 copies of every weight: the bench measures it on small models only. */
export const FULL_SFT_MAX_PARAMS = 20e6;
/** The forward + loss + backward row (no optimizer moments) goes up to SmolLM2-135M's size (2.2 GB of f32). */
export const FULL_TRAIN_MAX_PARAMS = 200e6;

const paramCount = (ck: Checkpoint) =>
  [...ck.tensors.values()].reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);

/** One DPO optimizer step on one pair of 2×T tokens vs a forward pass over the same tokens. */
async function benchTrain(gpu: Gpu, ck: Checkpoint, name: string, T: number): Promise<TrainRow> {
  const wt = chooseWeightType(ck);
  const weights = uploadWeights(gpu, ck, wt);
  const cfg = ck.config;
  const layout = new LoraLayout(cfg, { r: 16, alpha: 32, targets: [...TARGETS] });
  const state = new LoraState(gpu.device, layout, layout.init(1));
  const trainer = new Trainer(gpu, cfg, weights, { lora: { layout, state }, seqs: 2, seqLen: T });
  const seq = (k: number) => ({
    ids: Array.from({ length: T }, (_, i) => (1 + k * 31 + i * 7919) % cfg.vocab),
    completionStart: T >> 1,
  });
  const pairs = [{ chosen: seq(1), rejected: seq(2) }];
  const o = { ...DEFAULT_TRAIN, batchSize: 1, lr: 1e-5 };
  const ref = await trainer.referenceLogps(pairs, o); // also warms up the forward
  await trainer.dpo(pairs, ref, o, () => {}); // warm-up step
  const reps = 3;
  let t0 = performance.now();
  for (let i = 0; i < reps; i++) await trainer.forward([pairs[0].chosen, pairs[0].rejected], true);
  const forwardMs = (performance.now() - t0) / reps;
  t0 = performance.now();
  for (let i = 0; i < reps; i++) await trainer.dpo(pairs, ref, o, () => {});
  const stepMs = (performance.now() - t0) / reps;
  trainer.destroy();
  state.destroy();
  destroyWeights(weights);
  const sftMs = await benchFullSft(gpu, ck, [pairs[0].chosen, pairs[0].rejected], T);
  const fullTrain = paramCount(ck) <= FULL_TRAIN_MAX_PARAMS ? await benchFullTrain(gpu, ck, T) : null;
  return {
    model: name,
    layers: cfg.layers,
    weights: wt,
    pair_tokens: `2x${T}`,
    lora_r: 16,
    forward_ms: round(forwardMs),
    dpo_step_ms: round(stepMs),
    step_over_forward: round(stepMs / forwardMs),
    full_sft_step_ms: sftMs === null ? null : round(sftMs),
    dpo_tokens_per_s: round((2 * T) / (stepMs / 1000)),
    full_train: fullTrain,
    adapter: gpu.adapterName,
  };
}

/** Milliseconds of one full-parameter SFT step over these rows (null: not an f32 model this small). */
async function benchFullSft(gpu: Gpu, ck: Checkpoint, rows: Seq[], T: number): Promise<number | null> {
  if (chooseWeightType(ck) !== 'f32' || paramCount(ck) > FULL_SFT_MAX_PARAMS) return null;
  const weights = uploadWeights(gpu, ck, 'f32');
  const full = new FullParams(gpu.device, ck.config, weights);
  const trainer = new Trainer(gpu, ck.config, weights, { full, seqs: rows.length, seqLen: T, recompute: false });
  const o = { ...DEFAULT_TRAIN, batchSize: rows.length, lr: 1e-5 };
  await trainer.sft(rows, o, () => {}); // warm-up step
  const reps = 3;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await trainer.sft(rows, o, () => {});
  const ms = (performance.now() - t0) / reps;
  trainer.destroy();
  full.destroy();
  destroyWeights(weights);
  return ms;
}

/**
 * Full-parameter forward + loss + backward of every weight (f32, widened from a 16-bit
 * checkpoint) over one sequence of T tokens, every position scored (the loss's gradient is
 * the mean NLL's); against a forward alone. Mean of 3 after a warm-up.
 */
async function benchFullTrain(gpu: Gpu, ck: Checkpoint, T: number): Promise<FullTrainRow> {
  const weights = uploadWeights(gpu, ck, 'f32');
  const full = new FullParams(gpu.device, ck.config, weights);
  const trainer = new Trainer(gpu, ck.config, weights, { full, seqs: 1, seqLen: T, recompute: false });
  const row = { ids: Array.from({ length: T }, (_, i) => (1 + i * 7919) % ck.config.vocab), completionStart: 0 };
  const forward = () => trainer.forward([row], true);
  const fwdLossBwd = async () => {
    trainer.zeroGrad();
    const pass = await forward(); // the loss is the host's, from the log-probs read back
    trainer.backward(pass, [-1 / (T - 1)]);
    await gpu.device.queue.onSubmittedWorkDone();
  };
  const mean = async (fn: () => Promise<unknown>) => {
    await fn(); // warm-up: pipelines, first-use allocations
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) await fn();
    return (performance.now() - t0) / 3;
  };
  const forwardMs = await mean(forward);
  const stepMs = await mean(fwdLossBwd);
  trainer.destroy();
  full.destroy();
  destroyWeights(weights);
  return {
    tokens: T,
    forward_ms: round(forwardMs),
    fwd_loss_bwd_ms: round(stepMs),
    tokens_per_s: round(T / (stepMs / 1000)),
    over_forward: round(stepMs / forwardMs),
  };
}

export const round = (x: number) => (x >= 100 ? Math.round(x) : Math.round(x * 100) / 100);

/** The device's floor (empty-dispatch cost, copy bandwidth), measured now. */
export async function hardwareFloor(gpu: Gpu): Promise<{ dispatch_us: number; copy_gbps: number }> {
  return { dispatch_us: round(await dispatchMicros(gpu.device)), copy_gbps: round(await copyGbps(gpu.device)) };
}

/** Every row of the plan, each handed to `onRow` as it is measured. */
export async function runBench(
  gpu: Gpu,
  plan: BenchPlan,
  load: CheckpointLoader,
  onRow: (r: Row | TrainRow) => void,
  hw?: { dispatch_us: number; copy_gbps: number },
): Promise<{ rows: Row[]; trainRows: TrainRow[] }> {
  const floor = hw ?? (await hardwareFloor(gpu));
  const rows: Row[] = [];
  const trainRows: TrainRow[] = [];
  for (const m of plan.models) {
    const ck = await load(m);
    const args = [plan.batches, plan.promptTokens, plan.newTokens, plan.profile, floor] as const;
    for (const r of await rowsFor(gpu, ck, m, plan.dtypes, ...args)) {
      rows.push(r);
      onRow(r);
    }
  }
  if (plan.trainTokens)
    for (const m of plan.models) {
      const r = await benchTrain(gpu, await load(m), m, plan.trainTokens);
      trainRows.push(r);
      onRow(r);
    }
  return { rows, trainRows };
}
