// Two runs of `npm run experiment` that need no TPO loop: --pilot (can the demo model execute
// its chain scratchpads, and not answer at once? see pilot.ts) and --score-shipped (the shipped
// adapters against the base model on N fresh tasks drawn with a seed: never in any training,
// pool or held-out split of either suite). --score-shipped prints one JSON line per arm:
//   base-direct     the base model answering directly (the bare instruction)
//   base-think      the base model after TPO's generic thought prompt (thought hidden)
//   tpo-think       the shipped TPO adapter, thinking
//   direct-trained  the shipped direct-response baseline's adapter, answering directly
// each with its accuracy (greedy, the rules judge), n, and the accuracy of each family.

import { mkdir, writeFile } from 'node:fs/promises';
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
