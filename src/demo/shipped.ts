// Two runs of `npm run experiment` that need no TPO loop: --pilot (can the demo model execute
// its chain scratchpads, and not answer at once? see pilot.ts) and --score-shipped (the shipped
// adapters against the base model on N fresh tasks drawn with a seed: never in any training,
// pool or held-out split of either suite). --score-shipped prints one JSON line per arm:
//   base-direct     the base model answering directly (the bare instruction)
//   base-think      the base model after TPO's generic thought prompt (thought hidden)
//   tpo-think       the shipped TPO adapter, thinking
//   direct-trained  the shipped direct-response baseline's adapter, answering directly
// each with its accuracy (greedy, the rules judge), n, and the accuracy of each family.

import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { flags } from '../cli/flags';
import { DEFAULT_MODEL_DIR, packageRoot } from '../cli/model-arg';
import { readAdapterFolder } from '../cli/train';
import { loadModel, type LoadedModel } from '../engine/model';
import type { Gpu } from '../gpu/device';
import { folderSource } from '../model/source-node';
import { loadAdapter } from '../train/peft';
import { DIRECT, GENERIC, type ThoughtPrompt } from '../tpo/prompts';
import { pilot, pilotTable, PILOT_GATE } from './pilot';
import { scoreTasks } from './score';
import { freshTasks, makeChainSuite, type Task } from './tasks';

type Values = Record<string, string | boolean | undefined>;

/** The shipped adapters, next to the demo model (PEFT folders). */
export const SHIPPED_ADAPTERS = {
  tpo: join(packageRoot(), 'public/models/tpo-demo-tpo'),
  direct: join(packageRoot(), 'public/models/tpo-demo-direct'),
};

const log = (s: string) => process.stderr.write(`${s}\n`);
const modelDir = (a: Values) => String(a.model ?? DEFAULT_MODEL_DIR);

export async function runPilot(gpu: Gpu, a: Values): Promise<number> {
  const chains = makeChainSuite().heldOut.filter((t) => t.family === 'chain');
  const n = flags(a)('eval-tasks', chains.length, { integer: true, min: 1 });
  const model = await loadModel(gpu, folderSource(modelDir(a)), { slots: 32, maxLen: 512 });
  const t0 = performance.now();
  const cells = await pilot(model, chains.slice(0, n));
  model.destroy();
  const seconds = (performance.now() - t0) / 1000;
  const table = pilotTable(cells);
  process.stdout.write(`${table}\n`);
  const out = String(a.out ?? 'runs/pilot');
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'pilot.md'), `${table}\n`);
  const record = { model: modelDir(a), gate: PILOT_GATE, cells, seconds, device: gpu.adapterName };
  await writeFile(join(out, 'pilot.json'), `${JSON.stringify(record, null, 2)}\n`);
  log(`pilot: ${n} held-out chains in ${seconds.toFixed(0)} s on ${gpu.adapterName}; written to ${out}`);
  return 0;
}

/**
 * --ship: the experiment's adapters next to the demo model. For each arm, the iteration (≥ 1) with
 * the best mean held-out accuracy over seeds, and of its seeds the best one; its adapter folder is
 * copied with base_model_name_or_path set to the demo model's folder and a card of its numbers.
 * (Chosen on the held-out tasks, so --score-shipped scores it afresh on tasks no split ever held.)
 */
export async function shipAdapters(
  rows: { arm: string; seed: number; iteration: number; accuracy: number }[],
  out: string,
  seeds: number[],
  iterations: number,
): Promise<void> {
  const arms = [
    ['TPO (generic thought prompt)', 'generic', SHIPPED_ADAPTERS.tpo],
    ['direct baseline', 'direct', SHIPPED_ADAPTERS.direct],
  ] as const;
  for (const [arm, prompt, dest] of arms) {
    const of = (it: number) => rows.filter((r) => r.arm === arm && r.iteration === it && seeds.includes(r.seed));
    const mean = (it: number) => of(it).reduce((s, r) => s + r.accuracy, 0) / of(it).length;
    let best = 1;
    for (let it = 2; it <= iterations; it++) if (mean(it) > mean(best)) best = it;
    const seed = of(best).reduce((a, b) => (b.accuracy > a.accuracy ? b : a)).seed;
    const src = join(out, `seed-${seed}`, prompt, `adapter-${best - 1}`);
    await rm(dest, { recursive: true, force: true });
    await cp(src, dest, { recursive: true });
    const configFile = join(dest, 'adapter_config.json');
    const config = JSON.parse(await readFile(configFile, 'utf8'));
    config.base_model_name_or_path = 'public/models/tpo-demo';
    await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`);
    const card = adapterCard(
      arm,
      seed,
      best,
      mean(best),
      of(best).map((r) => r.accuracy),
    );
    await writeFile(join(dest, 'README.md'), card);
    log(`ship: ${arm} iteration ${best} of seed ${seed} → ${dest}`);
  }
}

function adapterCard(arm: string, seed: number, iteration: number, mean: number, perSeed: number[]): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  return [
    `# tpo-demo · ${arm}, iteration ${iteration}`,
    '',
    'A PEFT LoRA adapter over `public/models/tpo-demo`, written by `npm run experiment -- --ship`:',
    `the ${arm} arm's adapter after iteration ${iteration} of seed ${seed} — the iteration with the best`,
    `mean held-out accuracy over the experiment's seeds (${pct(mean)}; per seed ${perSeed.map(pct).join(' / ')}),`,
    'and of its seeds the best. Chosen on the held-out tasks, so it is scored afresh by',
    '`npm run experiment -- --score-shipped --seed S --held-out N` on tasks that no split ever held',
    '(docs/experiment.md).',
    '',
    '```sh',
    `npx tpo generate --adapter public/models/tpo-demo-${arm.startsWith('TPO') ? 'tpo --think' : 'direct'} \\`,
    '  --prompt "Start at 7 and work mod 10: +3, *2, -4. What is the result?"',
    '```',
    '',
  ].join('\n');
}

export interface ShippedRow {
  arm: 'base-direct' | 'base-think' | 'tpo-think' | 'direct-trained';
  accuracy: number;
  n: number;
  families: Record<string, number>;
  seed: number;
}

async function attach(model: LoadedModel, dir: string, baseModel: string) {
  const files = await readAdapterFolder(dir);
  const ad = loadAdapter(model.config, files.config, files.weights, { baseModel });
  model.attachAdapter(ad.layout, ad.values);
}

export async function scoreShipped(gpu: Gpu, a: Values): Promise<number> {
  const num = flags(a);
  const seed = num('seed', 0, { integer: true, min: 0 });
  const n = num('held-out', 500, { integer: true, min: 1 });
  const dirs = {
    tpo: String(a['tpo-adapter'] ?? SHIPPED_ADAPTERS.tpo),
    direct: String(a['direct-adapter'] ?? SHIPPED_ADAPTERS.direct),
  };
  // read both adapters before the GPU work, so a missing one fails at once
  for (const d of Object.values(dirs)) await readAdapterFolder(d);
  const tasks = freshTasks(seed, n);
  const base = modelDir(a);
  const model = await loadModel(gpu, folderSource(base), { slots: 32, maxLen: 512 });
  const arms: [ShippedRow['arm'], ThoughtPrompt, string | null][] = [
    ['base-direct', DIRECT, null],
    ['base-think', GENERIC, null],
    ['tpo-think', GENERIC, dirs.tpo],
    ['direct-trained', DIRECT, dirs.direct],
  ];
  for (const [arm, prompt, adapter] of arms) {
    model.detachAdapter();
    if (adapter) await attach(model, adapter, base);
    const row = shippedRow(arm, await scoreTasks(model, tasks, prompt), tasks, seed);
    process.stdout.write(`${JSON.stringify(row)}\n`);
  }
  model.destroy();
  return 0;
}

function shippedRow(
  arm: ShippedRow['arm'],
  r: Awaited<ReturnType<typeof scoreTasks>>,
  tasks: Task[],
  seed: number,
): ShippedRow {
  return { arm, accuracy: r.accuracy, n: tasks.length, families: r.by_family, seed };
}
