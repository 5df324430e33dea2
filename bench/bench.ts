// `npm run bench`: prefill and decode throughput of the WGSL engine, printed as a table
// (or one JSON line per row with --json). Speed is measured here, never asserted in tests.
//
//   npm run bench -- [--json] [--models stories260K,smollm2-135m]  (also tpo-demo, qwen2.5-0.5b, a folder) [--batches 1,4,8,16]
//                    [--prompt-tokens 64] [--new-tokens 32] [--quick] [--profile] [--train-tokens 128] [--no-train]
//                    [--dtypes auto,f32]  (weights as the checkpoint stores them (16-bit), and widened to f32)
//   npm run bench -- --memory     planned GPU memory of LoRA DPO training (no GPU needed)
//   npm run bench -- --quant      q8 / q4 against the checkpoint's weights: greedy agreement, |Δlogit|, one TPO iteration
//   npm run bench -- --browser    the same rows in headless Chromium's Web Worker (the app's path)

import { parseArgs } from 'node:util';
import { weightBytes } from '../src/engine/weights';
import type { WeightType } from '../src/gpu/shaders';
import { cliGpu } from '../src/cli/gpu';
import { DEFAULT_MODEL_DIR, STORIES_DIR } from '../src/cli/model-arg';
import { loadCheckpoint, type Checkpoint } from '../src/model/checkpoint';
import { folderSource } from '../src/model/source-node';
import type { WeightDtypeChoice } from '../src/engine/weights';
import { syntheticCheckpoint } from './synthetic';
import { LoraLayout, TARGETS } from '../src/train/lora';
import { trainGraphBytes } from '../src/train/graph';
import { parseConfig } from '../src/model/config';
import { SHAPES } from './synthetic';
import { type BenchPlan, type FullTrainRow, type Row, round, runBench, type TrainRow, hardwareFloor } from './rows';

export async function checkpointFor(name: string): Promise<Checkpoint> {
  if (name === 'stories260K') return loadCheckpoint(folderSource(STORIES_DIR));
  if (name === 'tpo-demo') return loadCheckpoint(folderSource(DEFAULT_MODEL_DIR));
  if (name.startsWith('/') || name.startsWith('.')) return loadCheckpoint(folderSource(name));
  return syntheticCheckpoint(name);
}

export function table(rows: Row[]): string {
  const cols: (keyof Row)[] = [
    'model',
    'layers',
    'weights',
    'batch',
    'prompt_tokens',
    'new_tokens',
    'prefill_tokens_per_s',
    'decode_tokens_per_s',
    'ms_per_decode_step',
    'dispatches_per_decode_step',
    'submits_per_decode_step',
    'weight_bytes',
    'floor_ms',
    'floor_efficiency',
  ];
  const head = [
    'model',
    'layers',
    'wt',
    'batch',
    'prompt',
    'new',
    'prefill tok/s',
    'decode tok/s',
    'ms/step',
    'dispatch/step',
    'submit/step',
    'weight bytes',
    'floor ms',
    'floor efficiency',
  ];
  const cells = rows.map((r) => cols.map((c) => String(r[c])));
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => '| ' + c.map((x, i) => x.padStart(w[i])).join(' | ') + ' |';
  return [line(head), '|' + w.map((n) => '-'.repeat(n + 2)).join('|') + '|', ...cells.map(line)].join('\n');
}

/** Planned GPU memory of LoRA DPO training (computed, not allocated): weights + LoRA state + graph. */
function memoryPlan(): string {
  const gib = (b: number) => (b / 2 ** 30).toFixed(2);
  const lines = [
    '| model | pairs × tokens | weights q4 / 16-bit / f32 (GiB) | LoRA + AdamW (GiB) | graph, recompute (GiB) | graph, keep all (GiB) | total, recompute, q4 / 16-bit / f32 (GiB) |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const name of ['smollm2-135m', 'qwen2.5-0.5b']) {
    const cfg = parseConfig(SHAPES[name]);
    const layout = new LoraLayout(cfg, { r: 16, alpha: 32, targets: [...TARGETS] });
    const { hidden: H, heads: nH, kvHeads: nKV, headDim: hd, intermediate: I, layers: L } = cfg;
    // linear and embedding weights in the storage's width, norms (and q/k/v biases) f32
    const stored = cfg.vocab * H + L * (H * (nH + 2 * nKV) * hd + nH * hd * H + 3 * H * I);
    const f32s = H + L * (2 * H + (cfg.qkvBias ? (nH + 2 * nKV) * hd : 0));
    const weights = (wt: WeightType) => stored * weightBytes(wt) + 4 * f32s;
    const kinds: WeightType[] = ['q4', 'bf16', 'f32'];
    for (const pairs of [1, 2]) {
      const shape = { seqs: 2 * pairs, seqLen: 512 };
      const g = trainGraphBytes(cfg, { ...shape, recompute: true }, 16, 7),
        gAll = trainGraphBytes(cfg, { ...shape, recompute: false }, 16, 7);
      const lora = layout.length * 16;
      const w = kinds.map((k) => gib(weights(k))).join(' / ');
      const total = kinds.map((k) => gib(weights(k) + lora + g)).join(' / ');
      lines.push(`| ${name} | ${pairs} × 2×512 | ${w} | ${gib(lora)} | ${gib(g)} | ${gib(gAll)} | ${total} |`);
    }
  }
  return lines.join('\n');
}

/** The benchmark's flags (the docs test checks every documented flag against them). */
export const OPTIONS = {
  json: { type: 'boolean', default: false },
  quick: { type: 'boolean', default: false },
  models: { type: 'string' },
  batches: { type: 'string' },
  'prompt-tokens': { type: 'string' },
  'new-tokens': { type: 'string' },
  profile: { type: 'boolean', default: false },
  'train-tokens': { type: 'string' },
  'no-train': { type: 'boolean', default: false },
  dtypes: { type: 'string' },
  memory: { type: 'boolean', default: false },
  quant: { type: 'boolean', default: false },
  browser: { type: 'boolean', default: false },
} as const;

/** The rows to measure, from the flags (--quick: sizes that finish in minutes on the software adapter). */
function planOf(a: ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values']): BenchPlan {
  return {
    models: (a.models ?? 'stories260K,smollm2-135m').split(','),
    batches: (a.batches ?? (a.quick ? '1,4' : '1,4,8,16')).split(',').map(Number),
    promptTokens: Number(a['prompt-tokens'] ?? (a.quick ? 8 : 64)),
    newTokens: Number(a['new-tokens'] ?? (a.quick ? 4 : 32)),
    // --dtypes auto,f32: rows with the checkpoint's own (16-bit) weights and with f32 weights
    dtypes: (a.dtypes ?? 'auto,f32').split(',') as WeightDtypeChoice[],
    profile: a.profile ?? false,
    trainTokens: a['no-train'] ? 0 : Number(a['train-tokens'] ?? (a.quick ? 16 : 128)),
  };
}

/** One row on stderr as it comes (or its JSON line on stdout). */
function rowPrinter(json: boolean) {
  return (r: Row | TrainRow) => {
    if (json) return void process.stdout.write(JSON.stringify(r) + '\n');
    if (!('batch' in r)) return;
    process.stderr.write(`  ${r.model} batch ${r.batch}: decode ${r.decode_tokens_per_s} tok/s\n`);
    if (r.profile) {
      const total = Object.values(r.profile).reduce((x, y) => x + y, 0);
      const parts = Object.entries(r.profile)
        .sort((x, y) => y[1] - x[1])
        .map(([k, v]) => `${k} ${v} ms (${((100 * v) / total).toFixed(0)}%)`);
      process.stderr.write(`    decode step on the GPU: ${round(total)} ms = ${parts.join(', ')}\n`);
    }
  };
}

/** The tables after the rows (not with --json). */
function printTables(adapter: string, rows: Row[], trainRows: TrainRow[]): void {
  const features = rows[0] ? ` (features: ${rows[0].features})` : '';
  process.stdout.write(`\nAdapter: ${adapter}${features}\n${table(rows)}\n`);
  if (!trainRows.length) return;
  process.stdout.write(
    '\nDPO step (LoRA r 16 on all 7 projections; forward + backward + AdamW) vs a forward over the same tokens\n',
  );
  const sft = (r: TrainRow) =>
    r.full_sft_step_ms === null ? '' : `; full-parameter SFT step ${r.full_sft_step_ms} ms`;
  const line = (r: TrainRow) =>
    `  ${r.model} (${r.weights}, pair ${r.pair_tokens}): forward ${r.forward_ms} ms, DPO step ${r.dpo_step_ms} ms ` +
    `(${r.dpo_tokens_per_s} tok/s), ratio ${r.step_over_forward}${sft(r)}`;
  process.stdout.write(trainRows.map(line).join('\n') + '\n');
  const fullRows = trainRows.filter((r) => r.full_train);
  if (!fullRows.length) return;
  process.stdout.write('\nFull-parameter forward + loss + backward, f32, one sequence (the Inferena workload)\n');
  const full = (r: TrainRow, f: FullTrainRow) =>
    `  ${r.model} (${f.tokens} tokens): forward ${f.forward_ms} ms, forward + loss + backward ${f.fwd_loss_bwd_ms} ms ` +
    `(${f.tokens_per_s} tok/s), ratio ${f.over_forward}`;
  process.stdout.write(fullRows.map((r) => full(r, r.full_train!)).join('\n') + '\n');
}

export async function main(argv: string[]): Promise<number> {
  const { values: a } = parseArgs({ args: argv, options: OPTIONS });
  if (a.memory) {
    process.stdout.write(memoryPlan() + '\n');
    return 0;
  }
  const plan = planOf(a);
  const json = a.json ?? false;
  if (a.browser) {
    // The same rows inside headless Chromium's Web Worker, on the WebGPU adapter Chromium offers.
    const { benchInBrowser } = await import('./browser');
    const r = await benchInBrowser(plan, rowPrinter(json), (line) => process.stderr.write(`  ${line}\n`));
    if (!json) printTables(`${r.adapter} (headless Chromium, in a Web Worker)`, r.rows, r.trainRows);
    return 0;
  }
  const gpu = await cliGpu(process.argv.slice(1));
  if (typeof gpu === 'number') return gpu;
  if (a.quant) {
    const { quantReport } = await import('./quant');
    process.stdout.write(`${await quantReport(gpu, (s) => process.stderr.write(`  ${s}\n`))}\n`);
    return 0;
  }
  const hw = await hardwareFloor(gpu);
  if (!json) process.stderr.write(`  empty dispatch ${hw.dispatch_us} µs, buffer copy ${hw.copy_gbps} GB/s\n`);
  const r = await runBench(gpu, plan, checkpointFor, rowPrinter(json), hw);
  if (!json) printTables(gpu.adapterName, r.rows, r.trainRows);
  return 0;
}
