// `npm run bench`: prefill and decode throughput of the WGSL engine, printed as a table
// (or one JSON line per row with --json). Speed is measured here, never asserted in tests.
//
//   npm run bench -- [--json] [--models stories260K,smollm2-135m] [--batches 1,4,8,16]
//                    [--prompt-tokens 64] [--new-tokens 32] [--quick] [--profile] [--train-tokens 128] [--no-train]
//                    [--dtypes auto,f32]  (weights as the checkpoint stores them (16-bit), and widened to f32)
//   npm run bench -- --memory     planned GPU memory of LoRA DPO training (no GPU needed)

import { parseArgs } from 'node:util';
import { cliGpu } from '../src/cli/gpu';
import { STORIES_DIR } from '../src/cli/model-arg';
import type { Gpu } from '../src/gpu/device';
import type { WeightType } from '../src/gpu/shaders';
import { loadCheckpoint, type Checkpoint } from '../src/model/checkpoint';
import { folderSource } from '../src/model/source-node';
import { Forward } from '../src/engine/forward';
import { Generator } from '../src/engine/generate';
import { chooseWeightType, destroyWeights, uploadWeights, type WeightDtypeChoice } from '../src/engine/weights';
import { syntheticCheckpoint } from './synthetic';
import { LoraLayout, LoraState, TARGETS } from '../src/train/lora';
import { DEFAULT_TRAIN, Trainer } from '../src/train/trainer';
import { trainGraphBytes } from '../src/train/graph';
import { parseConfig } from '../src/model/config';
import { SHAPES } from './synthetic';
import { copyGbps, dispatchMicros, type Floor, floorOf } from './floor';

const sig3 = (x: number) => Number(x.toPrecision(3));
const roundFloor = (f: Floor): Floor => ({ floor_ms: sig3(f.floor_ms), floor_efficiency: sig3(f.floor_efficiency) });

interface Row {
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
  /** --profile: GPU milliseconds per step name for one decode step (timestamp queries). */
  profile?: Record<string, number>;
}

async function checkpointFor(name: string): Promise<Checkpoint> {
  if (name === 'stories260K') return loadCheckpoint(folderSource(STORIES_DIR));
  if (name.startsWith('/') || name.startsWith('.')) return loadCheckpoint(folderSource(name));
  return syntheticCheckpoint(name);
}

/** Rows of one model for each weight type asked for (a type equal to an earlier one is skipped). */
async function rowsFor(
  gpu: Gpu,
  name: string,
  dtypes: WeightDtypeChoice[],
  ...rest: [number[], number, number, boolean, { dispatch_us: number; copy_gbps: number }]
): Promise<Row[]> {
  const ck = await checkpointFor(name);
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

interface TrainRow {
  model: string;
  layers: number;
  weights: string;
  pair_tokens: string;
  lora_r: number;
  forward_ms: number;
  dpo_step_ms: number;
  step_over_forward: number;
  adapter: string;
}

/** One DPO optimizer step on one pair of 2×T tokens vs a forward pass over the same tokens. */
async function benchTrain(gpu: Gpu, name: string, T: number): Promise<TrainRow> {
  const ck = await checkpointFor(name);
  const wt = chooseWeightType(ck);
  const weights = uploadWeights(gpu, ck, wt);
  const cfg = ck.config;
  const layout = new LoraLayout(cfg, { r: 16, alpha: 32, targets: [...TARGETS] });
  const state = new LoraState(gpu.device, layout, layout.init(1));
  const trainer = new Trainer(gpu, cfg, weights, layout, state, 2, T);
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
  return {
    model: name,
    layers: cfg.layers,
    weights: wt,
    pair_tokens: `2x${T}`,
    lora_r: 16,
    forward_ms: round(forwardMs),
    dpo_step_ms: round(stepMs),
    step_over_forward: round(stepMs / forwardMs),
    adapter: gpu.adapterName,
  };
}

const round = (x: number) => (x >= 100 ? Math.round(x) : Math.round(x * 100) / 100);

function table(rows: Row[]): string {
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
    '| model | pairs × tokens | weights f16 / f32 (GiB) | LoRA + AdamW (GiB) | graph, recompute (GiB) | graph, keep all (GiB) | total, recompute, f16 / f32 (GiB) |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const name of ['smollm2-135m', 'qwen2.5-0.5b']) {
    const cfg = parseConfig(SHAPES[name]);
    const layout = new LoraLayout(cfg, { r: 16, alpha: 32, targets: [...TARGETS] });
    const perLayer =
      2 * cfg.hidden +
      cfg.hidden * (cfg.heads + 2 * cfg.kvHeads) * cfg.headDim +
      cfg.heads * cfg.headDim * cfg.hidden +
      3 * cfg.hidden * cfg.intermediate;
    const params = cfg.vocab * cfg.hidden + cfg.hidden + cfg.layers * perLayer;
    for (const pairs of [1, 2]) {
      const shape = { seqs: 2 * pairs, seqLen: 512 };
      const g = trainGraphBytes(cfg, shape, 16, 7),
        gAll = trainGraphBytes(cfg, { ...shape, recompute: false }, 16, 7);
      const lora = layout.length * 16;
      lines.push(
        `| ${name} | ${pairs} × 2×512 | ${gib(params * 2)} / ${gib(params * 4)} | ${gib(lora)} | ${gib(g)} | ${gib(gAll)} | ${gib(params * 2 + lora + g)} / ${gib(params * 4 + lora + g)} |`,
      );
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
} as const;

export async function main(argv: string[]): Promise<number> {
  const { values: a } = parseArgs({ args: argv, options: OPTIONS });
  if (a.memory) {
    process.stdout.write(memoryPlan() + '\n');
    return 0;
  }
  const gpu = await cliGpu(process.argv.slice(1));
  if (typeof gpu === 'number') return gpu;
  // --quick: sizes that finish in a few minutes on the software adapter.
  const models = (a.models ?? (a.quick ? 'stories260K,smollm2-135m' : 'stories260K,smollm2-135m')).split(',');
  const batches = (a.batches ?? (a.quick ? '1,4' : '1,4,8,16')).split(',').map(Number);
  const P = Number(a['prompt-tokens'] ?? (a.quick ? 8 : 64));
  const N = Number(a['new-tokens'] ?? (a.quick ? 4 : 32));
  const rows: Row[] = [];
  const hw = { dispatch_us: round(await dispatchMicros(gpu.device)), copy_gbps: round(await copyGbps(gpu.device)) };
  if (!a.json) process.stderr.write(`  empty dispatch ${hw.dispatch_us} µs, buffer copy ${hw.copy_gbps} GB/s\n`);
  // --dtypes auto,f32: rows with the checkpoint's own (16-bit) weights and with f32 weights
  const dtypes = (a.dtypes ?? 'auto,f32').split(',') as WeightDtypeChoice[];
  for (const m of models) {
    for (const r of await rowsFor(gpu, m, dtypes, batches, P, N, a.profile ?? false, hw)) {
      rows.push(r);
      if (a.json) process.stdout.write(JSON.stringify(r) + '\n');
      else process.stderr.write(`  ${r.model} batch ${r.batch}: decode ${r.decode_tokens_per_s} tok/s\n`);
      if (r.profile && !a.json) {
        const total = Object.values(r.profile).reduce((x, y) => x + y, 0);
        const parts = Object.entries(r.profile)
          .sort((x, y) => y[1] - x[1])
          .map(([k, v]) => `${k} ${v} ms (${((100 * v) / total).toFixed(0)}%)`);
        process.stderr.write(`    decode step on the GPU: ${round(total)} ms = ${parts.join(', ')}\n`);
      }
    }
  }
  if (!a.json) process.stdout.write(`\nAdapter: ${gpu.adapterName}\n${table(rows)}\n`);
  if (!a['no-train']) {
    const T = Number(a['train-tokens'] ?? (a.quick ? 16 : 128));
    const trainRows: TrainRow[] = [];
    for (const m of models) {
      const r = await benchTrain(gpu, m, T);
      trainRows.push(r);
      if (a.json) process.stdout.write(JSON.stringify(r) + '\n');
    }
    if (!a.json) {
      process.stdout.write(
        '\nDPO step (LoRA r 16 on all 7 projections; forward + backward + AdamW) vs a forward over the same tokens\n',
      );
      process.stdout.write(
        trainRows
          .map(
            (r) =>
              `  ${r.model} (${r.weights}, pair ${r.pair_tokens}): forward ${r.forward_ms} ms, DPO step ${r.dpo_step_ms} ms, ratio ${r.step_over_forward}`,
          )
          .join('\n') + '\n',
      );
    }
  }
  return 0;
}
