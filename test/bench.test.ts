// The benchmark's two paths run and report the same rows: in Node (Dawn) and in headless Chromium's
// Web Worker (`--browser`, the app's path). Speed is printed by `npm run bench`, never asserted.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runNodeScript } from './helpers/node-script';
import { testGpu } from './helpers/gpu';
import { featuresOf } from '../bench/rows';

const BENCH = join(__dirname, '../bench/run.mjs');
const ARGS = [
  '--json',
  '--quick',
  '--models',
  'stories260K',
  '--batches',
  '1,2',
  '--dtypes',
  'auto',
  '--train-tokens',
  '8',
];

async function rows(extra: string[]) {
  const r = await runNodeScript(BENCH, [...ARGS, ...extra]);
  expect(r.code ?? 0, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('npm run bench', () => {
  it('Node and --browser measure the same rows: decode per batch against the floor, and a DPO step', async () => {
    const node = await rows([]);
    const browser = await rows(['--browser']);
    for (const out of [node, browser]) {
      const decode = out.filter((r) => 'batch' in r);
      expect(decode.map((r) => r.batch)).toEqual([1, 2]);
      for (const r of decode) {
        for (const k of ['decode_tokens_per_s', 'ms_per_decode_step', 'dispatch_us', 'copy_gbps', 'floor_ms'])
          expect(r[k], k).toBeGreaterThan(0);
        expect(r.floor_efficiency).toBeGreaterThan(0);
        expect(r.floor_efficiency).toBeLessThanOrEqual(1.5); // a floor, measured: a step cannot be much faster
      }
      const train = out.filter((r) => 'dpo_step_ms' in r);
      expect(train).toHaveLength(1);
      expect(train[0].step_over_forward).toBeGreaterThan(1);
      expect(train[0].dpo_tokens_per_s).toBeGreaterThan(0);
      // the full-parameter forward + loss + backward over one sequence of the same tokens
      const full = train[0].full_train as Record<string, number>;
      expect(full.tokens).toBe(8);
      expect(full.fwd_loss_bwd_ms).toBeGreaterThan(0);
      // times, not asserted against each other (a loaded machine can invert them); consistent
      expect(full.forward_ms).toBeGreaterThan(0);
      expect(full.over_forward).toBeCloseTo(full.fwd_loss_bwd_ms / full.forward_ms, 1);
      expect(full.tokens_per_s).toBeCloseTo(8 / (full.fwd_loss_bwd_ms / 1000), -1);
    }
    // The same work on both paths: the same weights, dispatches and submits per step.
    const same = (r: Record<string, unknown>) => [
      r.model,
      r.weights,
      r.batch,
      r.weight_bytes,
      r.dispatches_per_decode_step,
      r.submits_per_decode_step,
    ];
    expect(browser.filter((r) => 'batch' in r).map(same)).toEqual(node.filter((r) => 'batch' in r).map(same));
    expect(String(browser[0].adapter).length).toBeGreaterThan(0); // the adapter named in every row
    // the features the engine uses, as this machine's adapter grants them (Dawn's SwiftShader: subgroups, not shader-f16)
    const gpu = await testGpu();
    const granted = /swiftshader/i.test(gpu.adapterName) ? 'subgroups' : featuresOf(gpu);
    expect(node.filter((r) => 'batch' in r).map((r) => r.features)).toEqual([granted, granted]);
    expect(browser.filter((r) => 'batch' in r).every((r) => /^(none|[\w-]+(,[\w-]+)*)$/.test(String(r.features)))).toBe(
      true,
    );
  });
});
