// `npm run experiment`: TPO against the direct-response baseline on the demo model, the paper's
// comparison in miniature. Both arms run the same loop (K samples per fresh pool instruction,
// programmatic judge on the response only, length-controlled best/worst pair, DPO on a LoRA
// adapter, M_t as reference); TPO samples with the generic thought prompt, the baseline with the
// bare instruction. After every iteration both are scored on the held-out split (greedy).
// Prints the README's table (markdown) and writes it with the raw numbers under --out.
//
//   npm run experiment -- [--model public/models/tpo-demo] [--out runs/experiment] [--iterations 3]
//                         [--per-iteration 64] [--samples 4] [--eval-tasks 140] [--lr 3e-3] [--epochs 3] [--resume]
//                         [--temperature 0.8] [--top-p 0.95]   (the paper's sampling)
//                         [--validation 32]  (pool tasks per iteration, fresh each, from the pool's end, on which each
//                                            iteration keeps its best DPO epoch; 0: the last)

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cliGpu } from '../cli/gpu';
import { loadModel, type LoadedModel } from '../engine/model';
import { flags } from '../cli/flags';
import { folderSource } from '../model/source-node';
import { DEFAULT_TRAIN } from '../train/trainer';
import { TARGETS } from '../train/lora';
import { rulesJudge } from '../tpo/judges';
import { adapterOf, checkPool, runIteration, validationSlice, type TpoOptions } from '../tpo/loop';
import { DIRECT, GENERIC, type ThoughtPrompt } from '../tpo/prompts';
import { folderStore } from '../tpo/store-node';
import type { IterationMetrics } from '../tpo/store';
import { scoreTasks } from './score';
import { DEMO_SEED, DEMO_SPLITS, demoJudgeRules, makeSplits, promptRows, type Task } from './tasks';
import { DEFAULT_MODEL_DIR } from '../cli/model-arg';

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
  quick: { type: 'boolean' },
  validation: { type: 'string' },
  resume: { type: 'boolean' },
} as const;

export interface ExperimentRow {
  arm: string;
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
    temperature: num('temperature', 0.8, { min: 0 }),
    topP: num('top-p', 0.95, { min: 0, max: 1, minExclusive: true }),
    seed: num('seed', 0, { integer: true, min: 0 }),
    maxNewTokens: 128,
    perIteration: per,
    rho: num('rho', 0.1, { min: 0 }),
    lora: { r: 8, alpha: 16, targets: [...TARGETS] },
    train: {
      ...DEFAULT_TRAIN,
      lr: num('lr', 3e-3, { min: 0 }),
      epochs: num('epochs', 3, { integer: true, min: 1 }),
      batchSize: 4,
      beta: num('beta', 0.1, { min: 0 }),
    },
    maxLength: 256,
    baseModel: dir,
    validation: num('validation', quick ? 8 : 32, { integer: true, min: 0 }),
  });
  return {
    dir,
    out: a.out ?? 'runs/experiment',
    iterations: num('iterations', quick ? 1 : 3, { integer: true, min: 1 }),
    evalN: num('eval-tasks', quick ? 14 : DEMO_SPLITS.heldOut, { integer: true, min: 1 }),
    options,
  };
}

/** Scores a model state on the held-out tasks and records the row (win rate against the untrained direct answers). */
function rowRecorder(model: LoadedModel, evalSet: Task[], base: { scores: number[] }, rows: ExperimentRow[]) {
  const t0 = performance.now();
  const winRate = (scores: number[]) =>
    scores.reduce((acc, s, i) => acc + (s > base.scores[i] ? 1 : s === base.scores[i] ? 0.5 : 0), 0) / scores.length;
  const pct = (x: number) => (100 * x).toFixed(1);
  return async (arm: string, iteration: number, prompt: ThoughtPrompt, m?: IterationMetrics) => {
    const r = await scoreTasks(model, evalSet, prompt);
    const row: ExperimentRow = {
      arm,
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
    };
    rows.push(row);
    const secs = ((performance.now() - t0) / 1000).toFixed(0);
    const failures = `parse failures ${pct(row.parse_failure_rate)}%`;
    const rates = `accuracy ${pct(row.accuracy)}%, win rate ${pct(row.win_rate)}%, ${failures}`;
    log(`${arm} iteration ${iteration}: ${rates}, thought ${row.mean_thought_chars.toFixed(0)} chars  (${secs} s)`);
  };
}

const log = (s: string) => process.stderr.write(`${s}\n`);

export async function main(argv: string[]): Promise<number> {
  const { values: a } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  const gpu = await cliGpu(process.argv.slice(1));
  if (typeof gpu === 'number') return gpu;
  const { dir, out, iterations, evalN, options } = experimentSettings(a);
  const shared = options(GENERIC); // the settings both arms share
  checkPool(DEMO_SPLITS.pool, shared, iterations);
  const splits = makeSplits(DEMO_SEED, { ...DEMO_SPLITS, train: 0 });
  const evalSet = splits.heldOut.slice(0, evalN);
  const model = await loadModel(gpu, folderSource(dir), { slots: 32, maxLen: 512 });
  const t0 = performance.now();
  const rows: ExperimentRow[] = [];
  const evalRow = rowRecorder(model, evalSet, await scoreTasks(model, evalSet, DIRECT), rows);
  const pool = promptRows(splits.pool).map((r) => ({
    id: String(r.id),
    instruction: String(r.instruction),
    meta: { answer: r.answer },
  }));
  const arms = [
    ['TPO (generic thought prompt)', GENERIC],
    ['direct baseline', DIRECT],
  ] as const;
  for (const [arm, prompt] of arms) {
    model.detachAdapter();
    await evalRow(arm, 0, prompt);
    const runDir = join(out, prompt.name);
    // --resume keeps finished iterations (same settings!)
    if (!a.resume) await rm(runDir, { recursive: true, force: true });
    const store = await folderStore(runDir);
    await store.writeConfig({ experiment: arm, model: dir });
    const ctx = { model, judge: rulesJudge(demoJudgeRules()), store, onProgress: () => {} };
    const o = options(prompt);
    for (let it = 0; it < iterations; it++) {
      const slice = pool.slice(it * o.perIteration, (it + 1) * o.perIteration);
      const m = await runIteration(ctx, it, slice, o, validationSlice(pool, shared, it));
      const ad = await adapterOf(ctx, it + 1, o);
      if (ad) model.attachAdapter(ad.layout, ad.values);
      await evalRow(arm, it + 1, prompt, m);
    }
  }
  model.destroy();

  const table = experimentTable(rows, evalSet, iterations, shared);
  process.stdout.write(table + '\n');
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'experiment.md'), table + '\n');
  await writeFile(
    join(out, 'experiment.json'),
    JSON.stringify({ rows, seconds: (performance.now() - t0) / 1000, device: gpu.adapterName }, null, 2) + '\n',
  );
  const secs = ((performance.now() - t0) / 1000).toFixed(0);
  log(`experiment: ${secs} s on ${gpu.adapterName}; written to ${out}`);
  return 0;
}

export function experimentTable(rows: ExperimentRow[], evalSet: Task[], iterations: number, o: TpoOptions): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const epochs = o.train.epochs;
  const kept = o.validation
    ? `Kept epoch: the best of the iteration's starting model (0) and its ${epochs} DPO epochs on ${o.validation} validation pool tasks, fresh each iteration (greedy, judged).`
    : `No checkpoint selection: every iteration keeps its last of ${epochs} DPO epochs.`;
  const lines = [
    `Held-out: ${evalSet.length} tasks, greedy, programmatic judge. ${iterations} iteration(s) × ${o.perIteration} fresh pool instructions × K = ${o.samples} samples at T = ${o.temperature}, top-p ${o.topP}; DPO lr ${o.train.lr}. Win rate: against the untrained model answering directly (ties ½). ${kept}`,
    '',
    '| arm | iteration | accuracy | win rate | parse failures | thought chars | scratchpad / rambling thoughts | response chars | pool mean score | pairs | kept epoch |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.arm} | ${r.iteration === 0 ? 'untrained' : r.iteration} | ${pct(r.accuracy)} | ${pct(r.win_rate)} | ${pct(r.parse_failure_rate)} | ${r.mean_thought_chars.toFixed(0)} | ${r.mean_thought_chars ? `${pct(r.scratchpad_share)} / ${pct(r.rambling_share)}` : '—'} | ${r.mean_response_chars.toFixed(1)} | ${r.train_mean_score?.toFixed(3) ?? '—'} | ${r.pairs ?? '—'} | ${r.kept_epoch ?? '—'} |`,
    ),
  ];
  return lines.join('\n');
}
