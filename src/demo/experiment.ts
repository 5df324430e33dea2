// `npm run experiment`: TPO against the direct-response baseline on the demo model, the paper's
// comparison in miniature. Both arms run the same loop (K samples per fresh pool instruction,
// programmatic judge on the response only, length-controlled best/worst pair, DPO on a LoRA
// adapter, M_t as reference); TPO samples with the generic thought prompt, the baseline with the
// bare instruction. After every iteration both are scored on the held-out split (greedy).
// Prints the README's table (markdown) and writes it with the raw numbers under --out.
//
//   npm run experiment -- [--model public/models/tpo-demo] [--out runs/experiment] [--iterations 3]
//                         [--per-iteration 64] [--samples 4] [--eval-tasks 500] [--lr 1e-2] [--epochs 3] [--resume]
//                         [--temperature 0.8] [--top-p 0.95]   (the paper's sampling)
//                         [--validation 64]  (pool tasks per iteration, fresh each, from the pool's end, on which each
//                                            iteration keeps its best DPO epoch; 0: the last)
//                         [--seeds 3] [--seed 0]  (runs with seeds seed … seed+seeds−1: each its own sampling seed and
//                                            pool order; the table gives means and 95% intervals over seeds and tasks)
//                         [--judge rules|rm|rm:DIR]  (the loop's judge — sampling pairs and checkpoint selection:
//                                            the exact-answer rules, or a reward model, rm = the demo's tpo-demo-rm;
//                                            the held-out tasks are always scored by the exact answer)

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { cliGpu } from '../cli/gpu';
import { loadModel, type LoadedModel } from '../engine/model';
import { flags } from '../cli/flags';
import { folderSource } from '../model/source-node';
import { DEFAULT_TRAIN } from '../train/trainer';
import { TARGETS } from '../train/lora';
import { rulesJudge, type Judge } from '../tpo/judges';
import { rewardModelJudge } from '../tpo/rm-judge';
import type { Gpu } from '../gpu/device';
import { adapterOf, checkPool, runIteration, validationSlice, type TpoOptions } from '../tpo/loop';
import { DIRECT, GENERIC, type ThoughtPrompt } from '../tpo/prompts';
import { folderStore } from '../tpo/store-node';
import type { IterationMetrics } from '../tpo/store';
import { scoreTasks } from './score';
import { demoJudgeRules, promptRows, suiteFlag, suiteSplits, type Task } from './tasks';
import { runPilot, scoreShipped, shipAdapters } from './shipped';
import { UsageError } from '../errors';
import { DEFAULT_MODEL_DIR, packageRoot } from '../cli/model-arg';
import { loadRewardModel } from '../cli/judge-arg';
import { rng } from '../rng';
import { PAPER_SAMPLING } from '../tpo/sampling';

/** The command's flags (the docs test checks every documented flag against them). */
export const OPTIONS = {
  model: { type: 'string' },
  out: { type: 'string' },
  iterations: { type: 'string' },
  'per-iteration': { type: 'string' },
  samples: { type: 'string' },
  'eval-tasks': { type: 'string' },
  lr: { type: 'string' },
  epochs: { type: 'string' },
  beta: { type: 'string' },
  rho: { type: 'string' },
  temperature: { type: 'string' },
  'top-p': { type: 'string' },
  seed: { type: 'string' },
  seeds: { type: 'string' },
  quick: { type: 'boolean' },
  validation: { type: 'string' },
  resume: { type: 'boolean' },
  suite: { type: 'string' },
  pilot: { type: 'boolean' },
  'score-shipped': { type: 'boolean' },
  'held-out': { type: 'string' },
  'tpo-adapter': { type: 'string' },
  'direct-adapter': { type: 'string' },
  ship: { type: 'boolean' },
  judge: { type: 'string' },
} as const;

export interface ExperimentRow {
  arm: string;
  /** The run's seed: its sampling seed and pool order (the untrained rows are the same for every seed). */
  seed: number;
  iteration: number; // 0 = the untrained model
  accuracy: number;
  win_rate: number; // vs the untrained model answering directly, judged per held-out task (ties ½)
  parse_failure_rate: number;
  mean_thought_chars: number;
  mean_response_chars: number;
  /** Share of held-out thoughts written as a scratchpad (worked or slip), and as the corpus's long no-work hedge. */
  scratchpad_share: number;
  rambling_share: number;
  by_family: Record<string, number>;
  /** Of the iteration's own samples on its pool slice (the judge's mean score). */
  train_mean_score?: number;
  pairs?: number;
  /** The DPO epoch kept by checkpoint selection (0 = the iteration's starting model); absent without it. */
  kept_epoch?: number;
  /** Per held-out task: 1 for the exact answer, 0 otherwise (the intervals resample these). */
  correct: number[];
}

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];

/** The experiment's settings from its flags (--quick: sizes that finish in minutes). */
function experimentSettings(a: Flags) {
  const quick = a.quick ?? false;
  const num = flags(a);
  const dir = a.model ?? DEFAULT_MODEL_DIR;
  const per = num('per-iteration', quick ? 8 : 64, { integer: true, min: 1 });
  const options = (prompt: ThoughtPrompt): TpoOptions => ({
    prompt,
    samples: num('samples', 4, { integer: true, min: 2 }),
    temperature: num('temperature', PAPER_SAMPLING.temperature, { min: 0 }),
    topP: num('top-p', PAPER_SAMPLING.topP, { min: 0, max: 1, minExclusive: true }),
    seed: 0, // each run's own (main)
    maxNewTokens: 128,
    perIteration: per,
    rho: num('rho', 0.1, { min: 0 }),
    lora: { r: 8, alpha: 16, targets: [...TARGETS] },
    train: {
      ...DEFAULT_TRAIN,
      lr: num('lr', 1e-2, { min: 0 }),
      epochs: num('epochs', 3, { integer: true, min: 1 }),
      batchSize: 4,
      beta: num('beta', 0.1, { min: 0 }),
    },
    maxLength: 256,
    baseModel: dir,
    validation: num('validation', quick ? 8 : 64, { integer: true, min: 0 }),
  });
  const first = num('seed', 0, { integer: true, min: 0 });
  const seeds = Array.from({ length: num('seeds', quick ? 1 : 3, { integer: true, min: 1 }) }, (_, i) => first + i);
  return {
    dir,
    out: a.out ?? 'runs/experiment',
    iterations: num('iterations', quick ? 1 : 3, { integer: true, min: 1 }),
    evalN: num('eval-tasks', quick ? 14 : 500, { integer: true, min: 1 }),
    options,
    seeds,
  };
}

/** Scores a model state on the held-out tasks: one row (win rate against the untrained direct answers). */
function rowScorer(model: LoadedModel, evalSet: Task[], base: { scores: number[] }) {
  const t0 = performance.now();
  const winRate = (scores: number[]) =>
    scores.reduce((acc, s, i) => acc + (s > base.scores[i] ? 1 : s === base.scores[i] ? 0.5 : 0), 0) / scores.length;
  const pct = (x: number) => (100 * x).toFixed(1);
  return async (arm: string, seed: number, iteration: number, prompt: ThoughtPrompt, m?: IterationMetrics) => {
    const r = await scoreTasks(model, evalSet, prompt);
    const row: ExperimentRow = {
      arm,
      seed,
      iteration,
      accuracy: r.accuracy,
      win_rate: winRate(r.scores),
      parse_failure_rate: r.parse_failure_rate,
      mean_thought_chars: r.mean_thought_chars,
      mean_response_chars: r.mean_response_chars,
      scratchpad_share: r.thought_styles.scratchpad ?? 0,
      rambling_share: r.thought_styles.rambling ?? 0,
      by_family: r.by_family,
      ...(m ? { train_mean_score: m.mean_score, pairs: m.pairs } : {}),
      ...(m?.selection ? { kept_epoch: m.selection.chosen_epoch } : {}),
      correct: r.correct.map(Number),
    };
    const secs = ((performance.now() - t0) / 1000).toFixed(0);
    const failures = `parse failures ${pct(row.parse_failure_rate)}%`;
    const rates = `accuracy ${pct(row.accuracy)}%, win rate ${pct(row.win_rate)}%, ${failures}`;
    log(
      `seed ${seed} ${arm} iteration ${iteration}: ${rates}, ` +
        `thought ${row.mean_thought_chars.toFixed(0)} chars  (${secs} s)`,
    );
    return row;
  };
}

const log = (s: string) => process.stderr.write(`${s}\n`);

const ARMS = [
  ['TPO (generic thought prompt)', GENERIC],
  ['direct baseline', DIRECT],
] as const;

/** The pool in the run's own order: a seeded Fisher–Yates shuffle. */
function poolOrder(tasks: Task[], seed: number) {
  const pool = promptRows(tasks).map((r) => ({
    id: String(r.id),
    instruction: String(r.instruction),
    meta: { answer: r.answer },
  }));
  const rand = rng(0x5eed + seed);
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool;
}

/** The demo's reward model, retrained on the chain suite (`npm run train:demo-rm`). */
export const DEMO_RM_DIR = join(packageRoot(), 'public/models/tpo-demo-rm');

export interface ExperimentJudge {
  judge: Judge;
  /** How the table names it. */
  label: string;
  /** Frees the judge's own model, if it has one. */
  release: () => void;
}

/**
 * The loop's judge (--judge): `rules` (the default: the suite's exact answer), `rm` (the demo's
 * reward model) or `rm:DIR` (a reward model as `tpo run --judge rm:` loads one: a model folder, a
 * hub repo or a reward-model adapter folder). It scores the samples that make the pairs and the
 * validation responses that pick each iteration's epoch; the held-out tasks are always scored by
 * the exact answer, so that arms judged differently are measured alike.
 */
export async function experimentJudge(gpu: Gpu, spec = 'rules'): Promise<ExperimentJudge> {
  if (spec === 'rules')
    return { judge: rulesJudge(demoJudgeRules()), label: 'the exact-answer rules', release: () => {} };
  const m = /^rm(?::(.+))?$/.exec(spec);
  if (!m) throw new UsageError(`--judge ${spec}: unknown judge`, 'Give rules, rm (the demo reward model) or rm:DIR.');
  const dir = m[1] ?? DEMO_RM_DIR;
  const rm = await loadRewardModel(dir, gpu, undefined);
  const name = basename(dir);
  return { judge: rewardModelJudge(rm, name), label: `the reward model ${name}`, release: () => rm.destroy() };
}

/** A resumed run folder keeps the judge its iterations were judged by (records before --judge: rules). */
async function keepJudge(store: Awaited<ReturnType<typeof folderStore>>, spec: string, dir: string): Promise<void> {
  const stored = (await store.readConfig()) as { judge?: string } | null;
  if (stored && (stored.judge ?? 'rules') !== spec)
    throw new UsageError(
      `${dir} was judged by --judge ${stored.judge ?? 'rules'}, not ${spec}`,
      'Resume it with its own judge, or give another --out.',
    );
}

export async function main(argv: string[]): Promise<number> {
  const { values: a } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  const suite = suiteFlag(a.suite, 'chains');
  if (a.pilot && a['score-shipped']) throw new UsageError('--pilot and --score-shipped are separate runs: give one');
  const gpu = await cliGpu(process.argv.slice(1));
  if (typeof gpu === 'number') return gpu;
  if (a.pilot) return runPilot(gpu, a);
  if (a['score-shipped']) return scoreShipped(gpu, a);
  const { dir, out, iterations, evalN, options, seeds } = experimentSettings(a);
  const shared = options(GENERIC); // the settings both arms share
  const splits = suiteSplits(suite, evalN);
  checkPool(splits.pool.length, shared, iterations);
  const evalSet = splits.heldOut.slice(0, evalN);
  const judge = await experimentJudge(gpu, a.judge);
  const model = await loadModel(gpu, folderSource(dir), { slots: 32, maxLen: 512 });
  const t0 = performance.now();
  const rows: ExperimentRow[] = [];
  const score = rowScorer(model, evalSet, await scoreTasks(model, evalSet, DIRECT));
  const untrained = new Map<string, ExperimentRow>(); // greedy: the same for every seed
  for (const [arm, prompt] of ARMS) {
    model.detachAdapter();
    untrained.set(arm, await score(arm, seeds[0], 0, prompt));
  }
  for (const seed of seeds) {
    const pool = poolOrder(splits.pool, seed);
    for (const [arm, prompt] of ARMS) {
      rows.push({ ...untrained.get(arm)!, seed });
      const runDir = join(out, `seed-${seed}`, prompt.name);
      // --resume keeps finished iterations (same settings!)
      if (!a.resume) await rm(runDir, { recursive: true, force: true });
      const store = await folderStore(runDir);
      await keepJudge(store, a.judge ?? 'rules', runDir);
      await store.writeConfig({ experiment: arm, model: dir, seed, judge: a.judge ?? 'rules' });
      const ctx = { model, judge: judge.judge, store, onProgress: () => {} };
      const o = { ...options(prompt), seed };
      for (let it = 0; it < iterations; it++) {
        const slice = pool.slice(it * o.perIteration, (it + 1) * o.perIteration);
        const m = await runIteration(ctx, it, slice, o, validationSlice(pool, o, it));
        const ad = await adapterOf(ctx, it + 1, o);
        if (ad) model.attachAdapter(ad.layout, ad.values);
        rows.push(await score(arm, seed, it + 1, prompt, m));
      }
      model.detachAdapter();
    }
  }
  model.destroy();
  judge.release();

  const table = experimentTable(rows, evalSet, iterations, shared, seeds, judge.label);
  process.stdout.write(table + '\n');
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'experiment.md'), table + '\n');
  await writeFile(
    join(out, 'experiment.json'),
    JSON.stringify(
      { rows, judge: a.judge ?? 'rules', seconds: (performance.now() - t0) / 1000, device: gpu.adapterName },
      null,
      2,
    ) + '\n',
  );
  const secs = ((performance.now() - t0) / 1000).toFixed(0);
  log(`experiment: ${secs} s on ${gpu.adapterName}; written to ${out}`);
  if (a.ship) await shipAdapters(rows, out, seeds, iterations);
  return 0;
}

/**
 * Mean accuracy and its 95% interval over seeds and tasks: a two-level percentile bootstrap that
 * resamples the seeds, then the held-out tasks (the same draws for both sides of a difference).
 * `correct[s][t]`: seed s, task t. With `minus`, the interval is for the paired difference.
 */
export function seedTaskInterval(
  correct: number[][],
  minus?: number[][],
  samples = 4000,
  seed = 1,
): { mean: number; lo: number; hi: number } {
  const value = (c: number[][], s: number[], t: number[]) => {
    let sum = 0;
    for (const i of s) for (const j of t) sum += c[i][j];
    return sum / (s.length * t.length);
  };
  const all = (n: number) => Array.from({ length: n }, (_, i) => i);
  const S = correct.length,
    T = correct[0].length;
  const f = (s: number[], t: number[]) => value(correct, s, t) - (minus ? value(minus, s, t) : 0);
  const rand = rng(seed);
  const draws: number[] = [];
  for (let b = 0; b < samples; b++) {
    const s = Array.from({ length: S }, () => Math.floor(rand() * S));
    const t = Array.from({ length: T }, () => Math.floor(rand() * T));
    draws.push(f(s, t));
  }
  draws.sort((x, y) => x - y);
  return { mean: f(all(S), all(T)), lo: draws[Math.floor(0.025 * samples)], hi: draws[Math.ceil(0.975 * samples) - 1] };
}

/** The groups of held-out tasks the family table reports: each family, then chains by length. */
function taskGroups(evalSet: Task[]): [string, (t: Task) => boolean][] {
  const families = [...new Set(evalSet.map((t) => t.family))];
  const lengths = [...new Set(evalSet.flatMap((t) => (t.chain ? [t.chain.steps.length] : [])))].sort((a, b) => a - b);
  return [
    ...families.map((f): [string, (t: Task) => boolean] => [f, (t) => t.family === f]),
    ...lengths.map((k): [string, (t: Task) => boolean] => [`chain k=${k}`, (t) => t.chain?.steps.length === k]),
  ];
}

/** Accuracy per task family and chain length (mean over seeds, with its 95% interval), a row per arm and iteration. */
export function familyTable(rows: ExperimentRow[], evalSet: Task[], iterations: number, seeds: number[]): string[] {
  const groups = taskGroups(evalSet);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const counts = groups.map(([g, has]) => `${g} (${evalSet.filter(has).length})`);
  const out = [`| arm | iteration | ${counts.join(' | ')} |`, `|---|---|${groups.map(() => '---|').join('')}`];
  for (const [arm] of ARMS)
    for (let it = 0; it <= iterations; it++) {
      const r = seeds.map((s) => rows.find((x) => x.arm === arm && x.seed === s && x.iteration === it)!);
      const cells = groups.map(([, has]) => {
        const at = evalSet.map((t, i) => (has(t) ? i : -1)).filter((i) => i >= 0);
        const ci = seedTaskInterval(r.map((x) => at.map((i) => x.correct[i])));
        return `${pct(ci.mean)} [${pct(ci.lo)}, ${pct(ci.hi)}]`;
      });
      out.push(`| ${arm} | ${it === 0 ? 'untrained' : it} | ${cells.join(' | ')} |`);
    }
  return out;
}

export function experimentTable(
  rows: ExperimentRow[],
  evalSet: Task[],
  iterations: number,
  o: TpoOptions,
  seeds: number[],
  judge = 'the exact-answer rules',
): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const ci = (r: { mean: number; lo: number; hi: number }) => `${pct(r.mean)} [${pct(r.lo)}, ${pct(r.hi)}]`;
  const epochs = o.train.epochs;
  const kept = o.validation
    ? `Kept epoch: the best of the iteration's starting model (0) and its ${epochs} DPO epochs on ${o.validation} validation pool tasks, fresh each iteration (greedy, judged).`
    : `No checkpoint selection: every iteration keeps its last of ${epochs} DPO epochs.`;
  const of = (arm: string, it: number) =>
    seeds.map((s) => rows.find((r) => r.arm === arm && r.seed === s && r.iteration === it)!);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const list = (xs: (number | undefined)[]) => xs.map((x) => (x === undefined ? '—' : String(x))).join(' / ');
  const [tpo, direct] = ARMS.map(([arm]) => arm);
  const lines = [
    `Held-out: ${evalSet.length} tasks, greedy, programmatic judge (exact answer); the loop's judge (pairs, kept epochs): ${judge}; ${seeds.length} seed(s) (${seeds.join(', ')}): each its own sampling seed and pool order. ${iterations} iteration(s) × ${o.perIteration} fresh pool instructions × K = ${o.samples} samples at T = ${o.temperature}, top-p ${o.topP}; DPO lr ${o.train.lr}. Accuracy: the mean over seeds with a 95% interval (bootstrap over seeds and held-out tasks). Win rate: against the untrained model answering directly (ties ½), mean over seeds. ${kept} Per-seed values are separated by " / ".`,
    '',
    '| arm | iteration | accuracy [95% interval] | accuracy per seed | win rate | thought chars | scratchpad / rambling thoughts | pairs | kept epoch |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const arm of [tpo, direct])
    for (let it = 0; it <= iterations; it++) {
      const r = of(arm, it);
      const thought = avg(r.map((x) => x.mean_thought_chars));
      const styles = thought
        ? `${pct(avg(r.map((x) => x.scratchpad_share)))} / ${pct(avg(r.map((x) => x.rambling_share)))}`
        : '—';
      lines.push(
        `| ${arm} | ${it === 0 ? 'untrained' : it} | ${ci(seedTaskInterval(r.map((x) => x.correct)))} | ${r.map((x) => pct(x.accuracy)).join(' / ')} | ${pct(avg(r.map((x) => x.win_rate)))} | ${thought.toFixed(0)} | ${styles} | ${it ? list(r.map((x) => x.pairs)) : '—'} | ${it ? list(r.map((x) => x.kept_epoch)) : '—'} |`,
      );
    }
  lines.push('', ...familyTable(rows, evalSet, iterations, seeds));
  lines.push('', '| iteration | TPO − direct accuracy [95% interval] | per seed |', '|---|---|---|');
  for (let it = 0; it <= iterations; it++) {
    const a = of(tpo, it),
      b = of(direct, it);
    const d = seedTaskInterval(
      a.map((x) => x.correct),
      b.map((x) => x.correct),
    );
    const pt = (x: number) => (100 * x).toFixed(1);
    const per = a.map((x, i) => `${(100 * (x.accuracy - b[i].accuracy)).toFixed(1)}`).join(' / ');
    lines.push(
      `| ${it === 0 ? 'untrained' : it} | ${d.mean >= 0 ? '+' : ''}${pt(d.mean)} pt ` +
        `[${pt(d.lo)}, ${pt(d.hi)}] | ${per} pt |`,
    );
  }
  return lines.join('\n');
}
