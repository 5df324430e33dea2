// `npm run train:demo-rm`: the embedded demo reward model, trained by this engine so that the demo
// runs the whole TPO loop on the GPU with no rules and no network. Seeded and reproducible:
//  1. the demo policy (tpo-demo) answers training-split tasks with the thought prompt, K samples
//     each at the paper's T = 0.8 / top-p 0.95; the suite's rules mark each parsed response right
//     or wrong (the exact answer);
//  2. pairs {prompt: instruction, chosen: a right response, rejected: a wrong one} — the response
//     only, never the thought — train every weight of a LlamaForSequenceClassification that starts
//     from the policy's own backbone with a zero score head (`tpo rm`'s trainer: TRL RewardTrainer);
//  3. held-out tasks are answered the same way and the reward model's AUC (right vs wrong responses,
//     ties ½) is measured; then one TPO iteration of the policy (the reduced experiment) is judged
//     by the reward model instead of the rules, and greedy accuracy before → after is measured.
// Writes a complete model folder with its card and eval.json.
//
//   npm run train:demo-rm -- [--out public/models/tpo-demo-rm] [--policy public/models/tpo-demo]
//                            [--suite chains|first] [--tasks 512] [--samples 4] [--epochs 6] [--lr 2e-3]
//                            [--batch 8] [--seed 1]
// --suite: whose training and held-out tasks (default chains, the suite the shipped demo model knows).

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cliGpu } from '../cli/gpu';
import { flags } from '../cli/flags';
import { DEFAULT_MODEL_DIR } from '../cli/model-arg';
import type { Gpu } from '../gpu/device';
import { loadModel } from '../engine/model';
import { destroyWeights, uploadWeights } from '../engine/weights';
import { loadCheckpoint, tensorF32 } from '../model/checkpoint';
import { expectedTensors, parseConfig } from '../model/config';
import { publishModelFolder, writeModelFolder, writeWeightsFile } from '../model/folder-node';
import type { ModelSource } from '../model/source';
import { loadTokenizer } from '../model/tokenizer';
import { folderSource } from '../model/source-node';
import { rewardModelJudge } from '../tpo/rm-judge';
import { folderStore } from '../tpo/store-node';
import { tokenizeRewardPairs } from '../train/data';
import { FullParams } from '../train/full';
import { DEFAULT_TRAIN, Trainer, type StepMetrics } from '../train/trainer';
import { REDUCED, reducedTpoIteration } from './reduced';
import { answer, auc, type Judged } from './responses';
import { DEMO_SEED, DEMO_SPLITS, makeChainSuite, makeSplits, suiteFlag } from './tasks';

/** The command's flags (the docs test checks every documented flag against them). */
export const OPTIONS = {
  out: { type: 'string' },
  policy: { type: 'string' },
  suite: { type: 'string' },
  tasks: { type: 'string' },
  samples: { type: 'string' },
  epochs: { type: 'string' },
  lr: { type: 'string' },
  batch: { type: 'string' },
  seed: { type: 'string' },
} as const;

const log = (s: string) => process.stderr.write(`train-demo-rm: ${s}\n`);

/** Up to two (right, wrong) pairs per task, responses only. */
function rewardRows(judged: Judged[]): Record<string, unknown>[] {
  const byTask = new Map<string, Judged[]>();
  for (const j of judged) byTask.set(j.task.id, [...(byTask.get(j.task.id) ?? []), j]);
  const rows: Record<string, unknown>[] = [];
  for (const js of byTask.values()) {
    const right = [...new Set(js.filter((j) => j.right).map((j) => j.response))];
    const wrong = [...new Set(js.filter((j) => !j.right).map((j) => j.response))];
    for (let i = 0; i < Math.min(2, right.length, wrong.length); i++)
      rows.push({ prompt: js[0].task.instruction, chosen: right[i], rejected: wrong[i] });
  }
  return rows;
}

/** The reward model's starting folder: the policy's backbone, a zero score head. */
async function initialFolder(policyDir: string, dir: string): Promise<void> {
  const src = folderSource(policyDir);
  const ck = await loadCheckpoint(src);
  const head = { architectures: ['LlamaForSequenceClassification'], num_labels: 1 };
  const raw = JSON.parse(new TextDecoder().decode((await src.read('config.json'))!)) as Record<string, unknown>;
  const cfg = parseConfig({ ...raw, ...head });
  const values = new Map<string, Float32Array>();
  for (const name of expectedTensors(cfg).keys())
    values.set(name, name === 'score.weight' ? new Float32Array(cfg.hidden) : tensorF32(ck, name));
  await writeModelFolder(dir, src, cfg, values, head);
}

async function train(gpu: Gpu, src: ModelSource, rows: Record<string, unknown>[], o: typeof DEFAULT_TRAIN) {
  const ck = await loadCheckpoint(src);
  const { pairs, dropped } = tokenizeRewardPairs(rows, await loadTokenizer(src), 512);
  if (dropped) log(`${dropped} pairs over 512 tokens dropped`);
  const weights = uploadWeights(gpu, ck, 'f32');
  const full = new FullParams(gpu.device, ck.config, weights);
  const T = Math.max(...pairs.flatMap((p) => [p.chosen.length, p.rejected.length]));
  const trainer = new Trainer(gpu, ck.config, weights, { full, seqs: 2 * o.batchSize, seqLen: T });
  const curve: StepMetrics[] = [];
  const t0 = performance.now();
  await trainer.rm(pairs, o, (m) => {
    curve.push(m);
    if (m.step % 10 === 0) log(`step ${m.step} loss ${m.loss.toFixed(4)} accuracy ${m.accuracy!.toFixed(2)}`);
  });
  const seconds = (performance.now() - t0) / 1000;
  const values = await full.download();
  trainer.destroy();
  full.destroy();
  destroyWeights(weights);
  return { curve, values, seconds, pairs: pairs.length, cfg: ck.config };
}

/** The settings from the flags. */
function settingsOf(argv: string[]) {
  const { values: a } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  const num = flags(a);
  const seed = num('seed', 1, { integer: true, min: 0 });
  return {
    out: a.out ?? 'public/models/tpo-demo-rm',
    policyDir: a.policy ?? DEFAULT_MODEL_DIR,
    suite: suiteFlag(a.suite, 'chains'),
    tasks: num('tasks', 512, { integer: true, min: 8 }),
    samples: num('samples', 4, { integer: true, min: 2 }),
    seed,
    train: {
      ...DEFAULT_TRAIN,
      ...{ lr: num('lr', 2e-3, { min: 0 }), epochs: num('epochs', 6, { integer: true, min: 1 }) },
      ...{ batchSize: num('batch', 8, { integer: true, min: 1 }), seed, warmupSteps: 10 },
      ...{ schedule: 'cosine' as const, weightDecay: 0.01 },
    },
  };
}

/** AUCs of the trained reward model (folder `work`), then one TPO iteration of the policy it judges. */
async function measure(gpu: Gpu, work: string, policyDir: string, train: Judged[], held: Judged[]) {
  const rm = await loadModel(gpu, folderSource(work), { slots: 16, maxLen: 512, maxRows: 256 });
  const judge = rewardModelJudge(rm, 'tpo-demo-rm');
  const aucOf = async (js: Judged[]) =>
    auc(
      (await judge.score(js.map((j) => ({ instruction: j.task.instruction, response: j.response })))) as number[],
      js.map((j) => j.right),
    );
  const [trainAuc, heldAuc] = [await aucOf(train), await aucOf(held)];
  log(`AUC: training responses ${trainAuc.toFixed(3)}, held-out ${heldAuc.toFixed(3)}`);
  log('one TPO iteration judged by the reward model…');
  const pol = await loadModel(gpu, folderSource(policyDir), { slots: 64, maxLen: 512 });
  const run = await reducedTpoIteration(pol, await folderStore(await mkdtemp(join(tmpdir(), 'tpo-rm-run-'))), judge);
  pol.destroy();
  rm.destroy();
  const tpo = {
    ...{ instructions: REDUCED.instructions, samples: REDUCED.samples, pairs: run.metrics.pairs },
    ...{ accuracy_before: run.before.accuracy, accuracy_after: run.after.accuracy },
    ...{ mean_rules_score_before: run.before.mean_score, mean_rules_score_after: run.after.mean_score },
  };
  return { trainAuc, heldAuc, tpo };
}

export async function main(argv: string[]): Promise<number> {
  const s = settingsOf(argv);
  const gpu = await cliGpu(process.argv.slice(1));
  if (typeof gpu === 'number') return gpu;
  const t0 = performance.now();
  const splits = s.suite === 'chains' ? makeChainSuite() : makeSplits(DEMO_SEED, DEMO_SPLITS);
  const policy = await loadModel(gpu, folderSource(s.policyDir), { slots: 64, maxLen: 512 });
  log(`sampling ${s.tasks} training tasks × ${s.samples}…`);
  const trainJudged = await answer(policy, splits.train.slice(0, s.tasks), s.samples, s.seed);
  const rows = rewardRows(trainJudged);
  log(
    `${trainJudged.length} parsed responses, ${trainJudged.filter((j) => j.right).length} right; ${rows.length} pairs`,
  );
  log(`sampling ${splits.heldOut.length} held-out tasks × ${s.samples}…`);
  const heldJudged = await answer(policy, splits.heldOut, s.samples, s.seed + 1_000_000);
  policy.destroy();

  const work = await mkdtemp(join(tmpdir(), 'tpo-demo-rm-'));
  await initialFolder(s.policyDir, work);
  const trained = await train(gpu, folderSource(work), rows, s.train);
  await writeWeightsFile(work, trained.cfg, trained.values);
  const m = await measure(gpu, work, s.policyDir, trainJudged, heldJudged);
  const facts = {
    ...{ held_out_auc: m.heldAuc, train_auc: m.trainAuc, held_out_responses: heldJudged.length },
    ...{ held_out_right: heldJudged.filter((j) => j.right).length, training_responses: trainJudged.length },
    ...{
      training_pairs: trained.pairs,
      train_seconds: trained.seconds,
      total_seconds: (performance.now() - t0) / 1000,
    },
    ...{ final_loss: trained.curve.at(-1)?.loss, final_accuracy: trained.curve.at(-1)?.accuracy },
    tpo_iteration_judged_by_rm: m.tpo,
    settings: {
      suite: s.suite,
      tasks: s.tasks,
      samples: s.samples,
      seed: s.seed,
      lr: s.train.lr,
      epochs: s.train.epochs,
      batch: s.train.batchSize,
    },
  };
  await publishModelFolder(work, s.out, facts, rmCard(facts));
  log(`written to ${s.out} in ${facts.total_seconds.toFixed(0)} s`);
  return 0;
}

function rmCard(f: Record<string, unknown> & { tpo_iteration_judged_by_rm: Record<string, number> }): string {
  const n = (x: unknown, d = 3) => (typeof x === 'number' ? x.toFixed(d) : String(x));
  const t = f.tpo_iteration_judged_by_rm;
  return `# tpo-demo-rm

A reward model for the embedded demo's ${(f.settings as { suite: string }).suite === 'chains' ? 'chain suite' : 'first task suite'} (LlamaForSequenceClassification, one label), trained by
this engine (\`npm run train:demo-rm\`, \`src/demo/train-rm.ts\`) so that the demo runs TPO with a judge
on the GPU and no rules: it starts from tpo-demo's own backbone with a zero score head and trains
every weight as TRL's RewardTrainer does on pairs of tpo-demo's responses to training-split tasks,
a right one (the exact answer) against a wrong one — the response only, never the thought.

| | |
|---|---|
| training responses (K = ${n((f.settings as Record<string, number>).samples, 0)} a task) | ${n(f.training_responses, 0)}, ${n(f.training_pairs, 0)} pairs |
| training time (this engine, the machine below) | ${n(f.train_seconds, 0)} s (whole script ${n(f.total_seconds, 0)} s) |
| AUC, training responses | ${n(f.train_auc)} |
| **AUC, held-out tasks** (right vs wrong responses, ties ½) | **${n(f.held_out_auc)}** over ${n(f.held_out_responses, 0)} responses (${n(f.held_out_right, 0)} right) |
| one TPO iteration judged by this model (${t.instructions} instructions × ${t.samples}) | greedy accuracy ${n(t.accuracy_before)} → ${n(t.accuracy_after)}, ${t.pairs} pairs |

Measured on 2 CPU cores with SwiftShader (software WebGPU). \`eval.json\` holds the same numbers.
`;
}
