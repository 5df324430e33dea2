// One TPO iteration, M_t → M_t+1, as the paper runs it:
//   sample K thought+response outputs per instruction → parse → judge the responses only →
//   length-controlled scores → best/worst pair (thoughts included) → DPO from M_t with M_t as
//   reference → (optionally) the best DPO epoch on validation instructions → the adapter of M_t+1.
// Each stage reads what the store already holds and does only what is missing, so a run resumes.

import { UsageError } from '../errors';
import { crashPoint } from './fault';
import type { LoadedModel } from '../engine/model';
import { readF32 } from '../gpu/readback';
import { LoraLayout, LoraState, type LoraConfig } from '../train/lora';
import { type AdapterFiles, loadAdapter, saveAdapter } from '../train/peft';
import { tokenizePairs, truncation, type Truncation } from '../train/data';
import { Trainer, type StepMetrics, type TrainOptions } from '../train/trainer';
import { scoreGroup, type Judge } from './judges';
import { parseOutput, renderPrompt, type ThoughtPrompt } from './prompts';
import { promptIds, type Instruction } from './instructions';
import { mean, selectPair } from './scores';
import { selectCheckpoint, validationResponses } from './select';
import type { InstructionRecord, IterationMetrics, PairRecord, RunStore, Sample, SelectionRecord } from './store';

export interface TpoOptions {
  prompt: ThoughtPrompt;
  samples: number; // K
  temperature: number;
  topP: number;
  seed: number;
  maxNewTokens: number;
  perIteration: number; // instructions per iteration (a fresh slice each time)
  rho: number; // length penalty
  lora: LoraConfig;
  train: TrainOptions;
  maxLength: number;
  /** TRL's truncation beyond maxLength (train/data.ts); absent: its defaults (prompt ≤ 512, keep_end). */
  truncation?: Partial<Omit<Truncation, 'maxLength'>>;
  baseModel: string;
  /** Validation instructions per iteration, fresh each iteration, from the end of the pool and never
   *  trained on: on them each iteration keeps its best DPO epoch — or M_t itself if no epoch beats
   *  it (select.ts). 0 or absent: the last epoch. */
  validation?: number;
  /** Sequences per sampling batch, at most the model's slots (absent: all of them). A batch holds
   *  whole instructions: ⌊batch / K⌋ of them, at least one. */
  sampleBatch?: number;
}

export type Stage = 'sampling' | 'judging' | 'training';
export type ProgressFn = (p: { iteration: number; stage: Stage; done: number; total: number }) => void;

export interface TpoContext {
  model: LoadedModel;
  judge: Judge;
  store: RunStore;
  onProgress?: ProgressFn;
  onStep?: (m: StepMetrics) => void;
  /** Called when an iteration's metrics are stored. */
  onIteration?: (m: IterationMetrics) => void;
  signal?: AbortSignal;
  /** Awaited between units of work: where a pause holds and a cancel throws. */
  between?: () => Promise<void>;
  /** Awaited by runTpo after each iteration (e.g. a held-out evaluation of its adapter). */
  afterIteration?: (m: IterationMetrics) => Promise<void>;
}

/** Parses one prompts-file row: {"instruction": ...} (or "prompt"), optional "id", anything else kept as meta. */
export function parseInstructions(rows: Record<string, unknown>[]): Instruction[] {
  const seen = new Set<string>();
  return rows.map((r, i) => {
    const text = r.instruction ?? r.prompt;
    if (typeof text !== 'string' || !text.trim())
      throw new UsageError(`prompts row ${i + 1}: needs an "instruction" string`);
    const id = String(r.id ?? i);
    if (seen.has(id)) throw new UsageError(`prompts row ${i + 1}: duplicate id ${id}`);
    seen.add(id);
    const { instruction: _a, prompt: _b, id: _c, ...meta } = r;
    void _a;
    void _b;
    void _c;
    return { id, instruction: text, meta };
  });
}

/** M_it: the adapter that iteration it - 1 trained (null for the base model, it = 0). */
export async function adapterOf(
  ctx: TpoContext,
  it: number,
  o: TpoOptions,
): Promise<{ layout: LoraLayout; values: Float32Array } | null> {
  if (it === 0) return null;
  const files = await ctx.store.readAdapter(it - 1);
  if (!files)
    throw new UsageError(`iteration ${it} needs the adapter of iteration ${it - 1}, which the run does not have`);
  return loadAdapter(ctx.model.config, files['adapter_config.json'], files['adapter_model.safetensors'], {
    baseModel: o.baseModel,
  });
}

/** Samples and judges every instruction of the slice that the store does not have yet. */
async function sampleAndJudge(
  ctx: TpoContext,
  it: number,
  slice: Instruction[],
  o: TpoOptions,
): Promise<InstructionRecord[]> {
  const have = new Map((await ctx.store.readSamples(it)).map((r) => [r.id, r]));
  const todo = slice.filter((x) => !have.has(x.id));
  const m = ctx.model;
  const per = instructionsPerBatch(m.forward.shape.slots, o); // instructions per generation batch
  let done = slice.length - todo.length;
  for (let i = 0; i < todo.length; i += per) {
    await pausePoint(ctx);
    const group = todo.slice(i, i + per);
    ctx.onProgress?.({ iteration: it, stage: 'sampling', done, total: slice.length });
    const prompts = group.flatMap((x) =>
      Array.from({ length: o.samples }, () => promptIds(m, o.prompt, x.instruction)),
    );
    const seeds = group.flatMap((x) =>
      Array.from({ length: o.samples }, (_, k) => (o.seed + it * 1_000_003 + hash(x.id) * 8191 + k) >>> 0),
    );
    const gens = await m.generate(prompts, {
      maxNewTokens: o.maxNewTokens,
      temperature: o.temperature,
      topP: o.topP,
      seeds,
    });
    ctx.onProgress?.({ iteration: it, stage: 'judging', done, total: slice.length });
    for (let g = 0; g < group.length; g++) {
      const x = group[g];
      const outs = gens.slice(g * o.samples, (g + 1) * o.samples).map((r) => r.text ?? '');
      const parsed = outs.map((raw) => parseOutput(o.prompt, raw));
      const okIdx = parsed.map((p, k) => (p.ok ? k : -1)).filter((k) => k >= 0);
      // The judge sees the instruction and the responses only — never a thought.
      const scores = okIdx.length
        ? await scoreGroup(
            ctx.judge,
            x.instruction,
            okIdx.map((k) => (parsed[k] as { response: string }).response),
            x.meta,
          )
        : [];
      const samples: Sample[] = parsed.map((p, k) =>
        p.ok
          ? {
              raw: outs[k],
              parsed: true,
              thought: p.thought,
              response: p.response,
              score: scores[okIdx.indexOf(k)] ?? null,
            }
          : { raw: outs[k], parsed: false, thought: '', response: '', score: null },
      );
      const rec: InstructionRecord = { iteration: it, id: x.id, instruction: x.instruction, samples };
      await crashPoint('judged');
      await ctx.store.appendSamples(rec);
      await crashPoint('sample-stored');
      have.set(x.id, rec);
      done++;
    }
  }
  ctx.onProgress?.({ iteration: it, stage: 'judging', done, total: slice.length });
  return slice.map((x) => have.get(x.id)!);
}

/** Instructions per sampling batch: as many whole groups of K as the batch (the model's slots, or
 *  fewer when o.sampleBatch says so) holds, at least one. */
export function instructionsPerBatch(slots: number, o: Pick<TpoOptions, 'samples' | 'sampleBatch'>): number {
  const batch = o.sampleBatch ? Math.min(slots, o.sampleBatch) : slots;
  return Math.max(1, Math.floor(batch / o.samples));
}

/** Where a pause holds and a cancel throws (what is not stored yet is redone on resume). */
async function pausePoint(ctx: TpoContext): Promise<void> {
  await ctx.between?.();
  if (ctx.signal?.aborted) throw ctx.signal.reason ?? new Error('cancelled');
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** Runs (or resumes) iteration `it` on `slice`; returns its metrics. With `validation` instructions
 *  the adapter kept is the best of M_t and every DPO epoch on them (select.ts). */
export async function runIteration(
  ctx: TpoContext,
  it: number,
  slice: Instruction[],
  o: TpoOptions,
  validation: Instruction[] = [],
): Promise<IterationMetrics> {
  const done = await ctx.store.readMetrics(it);
  if (done) return done;
  const mt = await adapterOf(ctx, it, o);
  if (mt) ctx.model.attachAdapter(mt.layout, mt.values);
  else ctx.model.detachAdapter();
  const records = await sampleAndJudge(ctx, it, slice, o);
  const built = buildPairs(records, o);
  let pairs = await ctx.store.readPairs(it);
  if (!pairs) {
    pairs = built.pairs;
    await ctx.store.writePairs(it, pairs);
  }
  await ctx.between?.();
  const stored = await ctx.store.readAdapter(it);
  // An adapter stored before the metrics (a crash in between) brings its own DPO log.
  const trained = stored ? trainerState(stored) : await trainIteration(ctx, it, pairs, o, mt, validation);
  const metrics = iterationMetrics(it, records, pairs.length, built, trained);
  await ctx.store.writeMetrics(it, metrics);
  ctx.onIteration?.(metrics);
  return metrics;
}

interface BuiltPairs {
  pairs: PairRecord[];
  /** Instructions with no pair: every scored output got the same score and none failed. */
  allTied: number;
  /** Instructions with no pair: no scored output (all failed to parse or went unscored), or one alone. */
  tooFew: number;
  chosenLen: number[];
  rejectedLen: number[];
}

/** Pairs: chosen = argmax, rejected = argmin of the length-controlled score; thoughts kept. */
function buildPairs(records: InstructionRecord[], o: TpoOptions): BuiltPairs {
  const out: BuiltPairs = { pairs: [], allTied: 0, tooFew: 0, chosenLen: [], rejectedLen: [] };
  for (const r of records) {
    const choice = selectPair(
      r.samples.map((s) => ({ parsed: s.parsed, score: s.score ?? undefined, length: s.response.length })),
      o.rho,
    );
    if ('skipped' in choice) {
      if (choice.skipped === 'all-tied') out.allTied++;
      else out.tooFew++;
      continue;
    }
    const c = r.samples[choice.chosen];
    const j = r.samples[choice.rejected];
    out.chosenLen.push(c.response.length);
    out.rejectedLen.push(j.response.length);
    out.pairs.push({
      prompt: [{ role: 'user', content: renderPrompt(o.prompt, r.instruction) }],
      chosen: [{ role: 'assistant', content: c.raw }],
      rejected: [{ role: 'assistant', content: j.raw }],
    });
  }
  return out;
}

type Adapter = { layout: LoraLayout; values: Float32Array };

/** DPO from M_t with M_t as reference, then the adapter kept (the last epoch, or the best on
 *  validation) written as iteration `it`'s adapter. */
async function trainIteration(
  ctx: TpoContext,
  it: number,
  pairs: PairRecord[],
  o: TpoOptions,
  mt: Adapter | null,
  validation: Instruction[],
): Promise<{ log: StepMetrics[]; selection?: SelectionRecord }> {
  const m = ctx.model;
  ctx.onProgress?.({ iteration: it, stage: 'training', done: 0, total: pairs.length });
  const layout = mt?.layout ?? new LoraLayout(m.config, o.lora);
  const init = mt?.values.slice() ?? layout.init(o.seed + it);
  const out: { log: StepMetrics[]; selection?: SelectionRecord } = { log: [] };
  let values = init;
  if (pairs.length) {
    const r = await dpoEpochs(ctx, it, pairs, o, { layout, values: init }, mt, validation, out.log);
    values = r.values;
    out.selection = r.selection;
  }
  const state = { log_history: out.log, ...(out.selection ? { selection: out.selection } : {}) };
  await ctx.store.writeAdapter(it, {
    ...saveAdapter(layout, values, o.baseModel),
    'trainer_state.json': new TextEncoder().encode(JSON.stringify(state)),
  });
  await crashPoint('adapter-stored');
  return out;
}

/** The DPO log and checkpoint choice stored with an adapter (null for adapters stored without one). */
function trainerState(files: AdapterFiles): { log: StepMetrics[]; selection?: SelectionRecord } | null {
  const bytes = files['trainer_state.json'];
  if (!bytes) return null;
  const s = JSON.parse(new TextDecoder().decode(bytes)) as { log_history: StepMetrics[]; selection?: SelectionRecord };
  return { log: s.log_history, ...(s.selection ? { selection: s.selection } : {}) };
}

/** The DPO epochs of one iteration; with validation instructions, every epoch's adapter (and
 *  M_t's) answers them and the judge picks the one kept. */
async function dpoEpochs(
  ctx: TpoContext,
  it: number,
  pairs: PairRecord[],
  o: TpoOptions,
  start: Adapter,
  mt: Adapter | null,
  validation: Instruction[],
  log: StepMetrics[],
): Promise<{ values: Float32Array; selection?: SelectionRecord }> {
  const m = ctx.model;
  const { layout } = start;
  const tok = m.tokenizer as NonNullable<LoadedModel['tokenizer']>;
  const eos = tok.eosTokenIds[0] ?? m.config.eosTokenIds[0];
  const tp = tokenizePairs(
    pairs as unknown as Record<string, unknown>[],
    tok,
    eos,
    truncation(o.maxLength, o.truncation),
  );
  const T = Math.max(...tp.flatMap((p) => [p.chosen.ids.length, p.rejected.ids.length]));
  m.detachAdapter();
  const state = new LoraState(m.gpu.device, layout, start.values);
  const trainer = new Trainer(m.gpu, m.config, m.weights, {
    lora: { layout, state },
    seqs: 2 * o.train.batchSize,
    seqLen: T,
  });
  // Checkpoint candidates, index = epoch: M_t (0) and every epoch's adapter, each with its validation responses.
  const kept: Float32Array[] = [];
  const responses: (string | null)[][] = [];
  const candidate = async (v: Float32Array) => {
    kept.push(v);
    responses.push(await validationResponses(m, o.prompt, validation, { layout, values: v }, o.maxNewTokens));
  };
  const steps = Math.ceil(tp.length / (o.train.batchSize * o.train.gradAccum)) * o.train.epochs;
  let values: Float32Array;
  try {
    const ref = await trainer.referenceLogps(tp, o.train, mt ? mt.values : undefined, start.values);
    if (validation.length) await candidate(start.values);
    const onStep = (s: StepMetrics) => {
      void crashPoint('dpo-step'); // a kill (Node) only: the callback is synchronous
      log.push(s);
      ctx.onStep?.(s);
      ctx.onProgress?.({ iteration: it, stage: 'training', done: s.step, total: steps });
    };
    // Each epoch's pair order comes from the run's seed and the iteration (a resumed iteration retrains identically).
    const train = { ...o.train, seed: (o.seed + it) >>> 0 };
    await trainer.dpo(tp, ref, train, onStep, async () => {
      if (validation.length) await candidate(await readF32(m.gpu.device, state.params, layout.length));
      await pausePoint(ctx); // a cancel here retrains the iteration on resume
    });
    values = await readF32(m.gpu.device, state.params, layout.length);
  } finally {
    trainer.destroy();
    state.destroy();
  }
  if (!validation.length) return { values };
  const selection = await selectCheckpoint(ctx.judge, validation, responses);
  return { values: kept[selection.chosen_epoch], selection };
}

function iterationMetrics(
  it: number,
  records: InstructionRecord[],
  pairs: number,
  built: BuiltPairs,
  trained: { log: StepMetrics[]; selection?: SelectionRecord } | null,
): IterationMetrics {
  const all = records.flatMap((r) => r.samples);
  const ok = all.filter((s) => s.parsed);
  return {
    iteration: it,
    instructions: records.length,
    pairs,
    skipped_all_tied: built.allTied,
    skipped_too_few: built.tooFew,
    parse_failure_rate: all.length ? 1 - ok.length / all.length : 0,
    unscored: ok.filter((s) => s.score === null).length,
    mean_score: mean(ok.filter((s) => s.score !== null).map((s) => s.score!)),
    mean_thought_chars: mean(ok.map((s) => s.thought.length)),
    mean_response_chars: mean(ok.map((s) => s.response.length)),
    chosen_response_chars: mean(built.chosenLen),
    rejected_response_chars: mean(built.rejectedLen),
    dpo: trained?.log ?? [],
    ...(trained?.selection ? { selection: trained.selection } : {}),
  };
}

/** Throws a UsageError unless the pool holds a fresh slice per iteration plus fresh validation
 *  instructions per iteration; `has` and `hint` let a caller say what the pool is and which
 *  settings to change. */
export function checkPool(
  size: number,
  o: TpoOptions,
  iterations: number,
  has = (n: number) => `the pool has ${n}`,
  hint = 'Lower --per-iteration, --iterations or --validation, or add instructions.',
): void {
  const nVal = o.validation ?? 0;
  const need = (o.perIteration + nVal) * iterations;
  if (size < need) {
    throw new UsageError(
      `${iterations} iterations of ${o.perIteration} fresh instructions` +
        `${nVal ? ` and ${nVal} fresh validation instructions` : ''} need ${need}; ${has(size)}`,
      hint,
    );
  }
}

/** Iteration `it`'s validation instructions, never sampled for training: the pool's last
 *  o.validation for iteration 0, the o.validation before them for iteration 1, and so on (fresh
 *  each iteration, so that one iteration's choice does not tune the next one's yardstick). */
export function validationSlice(pool: Instruction[], o: TpoOptions, it: number): Instruction[] {
  const n = o.validation ?? 0;
  return n ? pool.slice(pool.length - (it + 1) * n, pool.length - it * n) : [];
}

/** Runs iterations over fresh slices of the pool. */
export async function runTpo(
  ctx: TpoContext,
  pool: Instruction[],
  o: TpoOptions,
  iterations: number,
): Promise<IterationMetrics[]> {
  checkPool(pool.length, o, iterations);
  const out: IterationMetrics[] = [];
  for (let it = 0; it < iterations; it++) {
    const m = await runIteration(
      ctx,
      it,
      pool.slice(it * o.perIteration, (it + 1) * o.perIteration),
      o,
      validationSlice(pool, o, it),
    );
    await ctx.afterIteration?.(m);
    out.push(m);
  }
  return out;
}
