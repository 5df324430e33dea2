// `npm run gpu-check -- --all`: everything a lent GPU machine should measure, in one command —
// the correctness checks, then the benchmark's rows in Node (Dawn) and in headless Chromium's
// worker (the app's path): decode at batch 1 / 16 / 64 with the weights as stored, bf16, f32 and
// q4, and the training rows (the LoRA DPO step, the full-parameter forward + loss + backward).
// Writes gpu-check.md (tables docs/benchmarks.md can take as they are) and gpu-check.json into
// --out. On a software adapter the models and sizes shrink (stories260K, short prompts) so that
// the same command ends in minutes; --models, --batches and --dtypes override.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Gpu } from '../src/gpu/device';
import type { WeightDtypeChoice } from '../src/engine/weights';
import { checkpointFor, table } from './bench';
import { type BenchPlan, featuresOf, hardwareFloor, type Row, runBench, type TrainRow } from './rows';
import type { CheckResult } from './gpu-check';

export const OPTIONS = {
  all: { type: 'boolean' },
  out: { type: 'string' },
  models: { type: 'string' },
  batches: { type: 'string' },
  dtypes: { type: 'string' },
  'node-only': { type: 'boolean' },
} as const;

/** What `--all` measures on this adapter. */
export function allPlan(gpu: Gpu, a: Record<string, unknown>): BenchPlan {
  const soft = gpu.isSoftware;
  const list = (k: string, otherwise: string) => String(a[k] ?? otherwise).split(',');
  return {
    models: list('models', soft ? 'stories260K' : 'smollm2-135m,qwen2.5-0.5b'),
    batches: list('batches', '1,16,64').map(Number),
    promptTokens: soft ? 8 : 64,
    newTokens: soft ? 4 : 32,
    dtypes: list('dtypes', 'auto,bf16,f32,q4') as WeightDtypeChoice[],
    profile: false,
    trainTokens: soft ? 16 : 128,
  };
}

interface PathResult {
  adapter: string;
  rows: Row[];
  trainRows: TrainRow[];
  seconds: number;
}

export interface AllResult {
  adapter: string;
  features: string;
  plan: BenchPlan;
  checks: CheckResult[];
  node: PathResult;
  browser: PathResult | { error: string };
  seconds: number;
}

/** Runs the checks and both benchmark paths, writes the two files; exit code 1 if a check failed. */
export async function runAll(
  gpu: Gpu,
  plan: BenchPlan,
  o: { out: string; nodeOnly: boolean },
  runChecks: (gpu: Gpu) => Promise<CheckResult[]>,
): Promise<number> {
  const t0 = performance.now();
  const secs = (since: number) => Math.round((performance.now() - since) / 100) / 10;
  const checks = await runChecks(gpu);
  let t = performance.now();
  const say = (r: Row | TrainRow) => console.log(`  node: ${JSON.stringify(r)}`);
  const node = {
    adapter: gpu.adapterName,
    ...(await runBench(gpu, plan, checkpointFor, say, await hardwareFloor(gpu))),
  };
  const nodeResult = { ...node, seconds: secs(t) };
  t = performance.now();
  let browser: AllResult['browser'];
  if (o.nodeOnly) browser = { error: '--node-only (no Chromium on this machine)' };
  else
    try {
      const { benchInBrowser } = await import('./browser');
      const b = await benchInBrowser(
        plan,
        (r) => console.log(`  browser: ${JSON.stringify(r)}`),
        (line) => console.log(`  ${line}`),
      );
      browser = { ...b, seconds: secs(t) };
    } catch (e) {
      browser = { error: (e as Error).message }; // reported in both files; the Node rows still stand
    }
  const result: AllResult = {
    ...{ adapter: gpu.adapterName, features: featuresOf(gpu), plan, checks },
    ...{ node: nodeResult, browser, seconds: secs(t0) },
  };
  await mkdir(o.out, { recursive: true });
  await writeFile(join(o.out, 'gpu-check.json'), `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(join(o.out, 'gpu-check.md'), markdown(result));
  const failed = checks.filter((c) => !c.pass).length;
  console.log(`${failed ? `${failed} check(s) failed` : 'all checks passed'}; ${result.seconds} s; files in ${o.out}/`);
  return failed || ('error' in browser && !o.nodeOnly) ? 1 : 0;
}

/** The training rows as a markdown table. */
function trainTable(rows: TrainRow[]): string {
  const head =
    '| model | weights | DPO pair | forward ms | DPO step ms | DPO tok/s | step / forward | ' +
    'full fwd+loss+bwd ms (tokens) | full tok/s | full / forward |';
  const lines = rows.map((r) => {
    const f = r.full_train;
    const full = f ? `${f.fwd_loss_bwd_ms} (${f.tokens}) | ${f.tokens_per_s} | ${f.over_forward}` : '— | — | —';
    const dpo = `${r.forward_ms} | ${r.dpo_step_ms} | ${r.dpo_tokens_per_s} | ${r.step_over_forward}`;
    return `| ${r.model} | ${r.weights} | ${r.pair_tokens} | ${dpo} | ${full} |`;
  });
  return [head, '|---|---|---|---|---|---|---|---|---|---|', ...lines].join('\n');
}

function pathSection(name: string, p: AllResult['browser']): string {
  if ('error' in p) return `## ${name}\n\nDid not run: ${p.error}\n`;
  const parts = [`## ${name} (${p.seconds} s; ${p.adapter})`, table(p.rows)];
  if (p.trainRows.length) parts.push(trainTable(p.trainRows));
  return `${parts.join('\n\n')}\n`;
}

export function markdown(r: AllResult): string {
  const checks = [
    '| check | result | detail |',
    '|---|---|---|',
    ...r.checks.map((c) => `| ${c.name} | ${c.pass ? 'PASS' : 'FAIL'} | ${c.detail.replace(/\|/g, '\\|')} |`),
  ].join('\n');
  const plan = r.plan;
  const sizes = `prompt ${plan.promptTokens}, new ${plan.newTokens}, DPO pair 2×${plan.trainTokens} tokens`;
  return [
    `# npm run gpu-check -- --all (${r.seconds} s)`,
    `Adapter: ${r.adapter} (features: ${r.features}). Models ${plan.models.join(', ')}; ${sizes}.`,
    `## Correctness\n\n${checks}`,
    pathSection('Node (Dawn)', r.node),
    pathSection('Headless Chromium, in a Web Worker', r.browser),
  ].join('\n\n');
}
