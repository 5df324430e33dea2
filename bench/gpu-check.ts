// `npm run gpu-check`: the engine's key correctness checks on a hardware adapter, for a GPU
// machine that has no test runner (CI runs the full suite on SwiftShader, which lacks shader-f16
// and takes the serial decode matmul). Prints one PASS/FAIL line per check.
//   npm run gpu-check -- --all [--out gpu-check-results] [--models a,b] [--batches 1,16,64]
//     [--dtypes auto,bf16,f32,q4] [--node-only]   the checks, then the benchmark's rows in Node and
//   in headless Chromium, into one markdown table and one JSON file (bench/gpu-check-all.ts): the
//   one command for a lent GPU (scripts/device-pack.sh packs what it needs there).

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cliGpu } from '../src/cli/gpu';
import { STORIES_DIR } from '../src/cli/model-arg';
import type { Gpu } from '../src/gpu/device';
import { loadModel, type LoadOptions } from '../src/engine/model';
import { loadCheckpoint } from '../src/model/checkpoint';
import { folderSource } from '../src/model/source-node';
import { refGreedy, refLogits, refWeights } from '../test/reference/llama';
import { expectClose } from '../test/helpers/compare';
import { writeTinyModel, type TinyOptions } from '../test/helpers/tiny-model';
import { loraGradientCheck } from '../test/helpers/lora-grad-check';
import { allPlan, OPTIONS, runAll } from './gpu-check-all';

/** LoRA gradients of the whole training graph vs float64 central differences (every parameter). */
async function gradCheck(gpu: Gpu, type: 'llama' | 'qwen2'): Promise<string> {
  const checks = await loraGradientCheck(gpu, type);
  const worst = Math.max(...checks.map((c) => expectClose(c.what, c.got, c.want, 2e-3, 2e-5).maxAbs));
  return `max abs diff ${worst.toExponential(2)} over ${checks.length} tensors`;
}

async function logitsCheck(gpu: Gpu, o: TinyOptions, opts: LoadOptions, tol: number, T: number): Promise<string> {
  const dir = writeTinyModel(mkdtempSync(join(tmpdir(), 'tpo-check-')), o);
  const tokens = Array.from({ length: T }, (_, i) => (i * 7 + 1) % 64);
  const want = refLogits(refWeights(await loadCheckpoint(folderSource(dir))), tokens);
  const m = await loadModel(gpu, folderSource(dir), { slots: 1, maxLen: 64, maxRows: 64, maxOut: 64, ...opts });
  const V = m.config.vocab;
  const got = await m.logits(tokens);
  m.destroy();
  let worst = 0;
  tokens.forEach(
    (_, t) =>
      (worst = Math.max(
        worst,
        expectClose(`position ${t}`, got.subarray(t * V, (t + 1) * V), want[t], tol, tol).maxAbs,
      )),
  );
  return `max abs diff ${worst.toExponential(2)}`;
}

/** One correctness check's outcome. */
export interface CheckResult {
  name: string;
  pass: boolean;
  detail: string;
}

/** Every correctness check, each printed as PASS/FAIL as it ends. */
async function runChecks(gpu: Gpu): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const check = async (name: string, fn: () => Promise<string>) => {
    let r: CheckResult;
    try {
      r = { name, pass: true, detail: await fn() };
    } catch (e) {
      r = { name, pass: false, detail: (e as Error).message };
    }
    console.log(`${r.pass ? 'PASS' : 'FAIL'} ${name}: ${r.detail}`);
    results.push(r);
  };
  for (const type of ['llama', 'qwen2'] as const) {
    await check(`${type} f32 logits, prefill gemm (T=40)`, () => logitsCheck(gpu, { type, seed: 3 }, {}, 1e-4, 40));
    await check(`${type} f32 logits, decode matmul (T=12)`, () =>
      logitsCheck(gpu, { type, seed: 4, tie: false }, {}, 1e-4, 12),
    );
    for (const dtype of ['BF16', 'F16'] as const) {
      const tokens = type === 'llama' ? 20 : 40; // the decode matmul and the prefill gemm
      await check(`${type} ${dtype.toLowerCase()} weights kept 16-bit (T=${tokens})`, () =>
        logitsCheck(gpu, { type, seed: 5, dtype }, {}, 1e-4, tokens),
      );
    }
  }
  for (const type of ['llama', 'qwen2'] as const)
    await check(`${type} training graph: LoRA grads = finite differences`, () => gradCheck(gpu, type));
  await check('stories260K greedy 200 tokens = float64 reference', async () => {
    const ref = refGreedy(refWeights(await loadCheckpoint(folderSource(STORIES_DIR))), [1], 200);
    const m = await loadModel(gpu, folderSource(STORIES_DIR), { slots: 1, maxLen: 256 });
    const [g] = await m.generate([[1]], { maxNewTokens: 200, temperature: 0, eosTokenIds: [] });
    m.destroy();
    const d = g.tokenIds.findIndex((t, i) => t !== ref[i]);
    if (d >= 0 || g.tokenIds.length !== 200) throw new Error(`first difference at token ${d}`);
    return '200/200 tokens equal';
  });
  await check('stories260K batch of 8 (sampled) = one at a time', async () => {
    const prompts = Array.from({ length: 8 }, (_, i) => [1, 10 + i * 13, 20 + i]);
    const a = await loadModel(gpu, folderSource(STORIES_DIR), { slots: 8, maxLen: 128 });
    const batch = await a.generate(prompts, {
      maxNewTokens: 40,
      temperature: 0.8,
      topP: 0.95,
      seed: 3,
      eosTokenIds: [],
    });
    a.destroy();
    const b = await loadModel(gpu, folderSource(STORIES_DIR), { slots: 1, maxLen: 128 });
    for (let i = 0; i < 8; i++) {
      const [one] = await b.generate([prompts[i]], {
        maxNewTokens: 40,
        temperature: 0.8,
        topP: 0.95,
        seeds: [3 + i],
        eosTokenIds: [],
      });
      if (one.tokenIds.join() !== batch[i].tokenIds.join()) throw new Error(`sequence ${i} differs`);
    }
    b.destroy();
    return '8/8 sequences equal';
  });
  return results;
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const { values: a } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  const gpu = await cliGpu(process.argv.slice(1));
  if (typeof gpu === 'number') return gpu;
  console.log(
    `adapter: ${gpu.adapterName}, shader-f16: ${gpu.hasF16}, subgroups: ${gpu.hasSubgroups}, software: ${gpu.isSoftware}`,
  );
  const out = String(a.out ?? 'gpu-check-results');
  if (a.all) return runAll(gpu, allPlan(gpu, a), { out, nodeOnly: !!a['node-only'] }, runChecks);
  const failed = (await runChecks(gpu)).filter((r) => !r.pass).length;
  console.log(failed ? `${failed} check(s) failed` : 'all checks passed');
  return failed ? 1 : 0;
}
