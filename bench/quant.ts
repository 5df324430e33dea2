// `npm run bench -- --quant`: what quantized weights cost in quality, reported (never asserted).
// For stories260K and the demo model, q8 and q4 against the checkpoint's own weights (f32 here):
// greedy agreement (identical continuations, and the mean share of each continuation before the
// first differing token) and mean |Δlogit| over every vocabulary entry along the reference's
// greedy sequences; then one TPO iteration of the demo model (the reduced experiment) over each base.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gpu } from '../src/gpu/device';
import { DEFAULT_MODEL_DIR, STORIES_DIR } from '../src/cli/model-arg';
import { loadModel, type LoadedModel } from '../src/engine/model';
import type { WeightDtypeChoice } from '../src/engine/weights';
import { folderSource } from '../src/model/source-node';
import { REDUCED, reducedTpoIteration } from '../src/demo/reduced';
import { CHAIN_SUITE, makeChainSuite } from '../src/demo/tasks';
import { promptIds } from '../src/tpo/instructions';
import { GENERIC } from '../src/tpo/prompts';
import { folderStore } from '../src/tpo/store-node';
import { round } from './rows';

const NEW_TOKENS = 48;

/** Greedy continuations and the logits along prompt + continuation, for each prompt. */
async function greedyRun(m: LoadedModel, prompts: number[][], along?: number[][]) {
  const gens = await m.generate(prompts, { maxNewTokens: NEW_TOKENS, temperature: 0, eosTokenIds: [] });
  const seqs = along ?? prompts.map((p, i) => [...p, ...gens[i].tokenIds]);
  const logits: Float32Array[] = [];
  for (const s of seqs) logits.push(await m.logits(s));
  return { tokens: gens.map((g) => g.tokenIds), seqs, logits };
}

async function modelRows(gpu: Gpu, name: string, dir: string, prompts: (m: LoadedModel) => number[][]) {
  const opts = { slots: 16, maxLen: 512, maxRows: 512, maxOut: 512 };
  const load = (weightDtype: WeightDtypeChoice) => loadModel(gpu, folderSource(dir), { ...opts, weightDtype });
  const refModel = await load('auto');
  const ps = prompts(refModel);
  const ref = await greedyRun(refModel, ps);
  refModel.destroy();
  const lines: string[] = [];
  for (const dtype of ['q8', 'q4'] as const) {
    const m = await load(dtype);
    const q = await greedyRun(m, ps, ref.seqs);
    const bytes = m.weights.bytes;
    m.destroy();
    const firstDiff = q.tokens.map((t, i) => {
      const k = t.findIndex((v, j) => v !== ref.tokens[i][j]);
      return k < 0 ? t.length : k;
    });
    let sum = 0,
      n = 0;
    q.logits.forEach((l, i) => {
      for (let j = 0; j < l.length; j++) sum += Math.abs(l[j] - ref.logits[i][j]);
      n += l.length;
    });
    const same = firstDiff.filter((k) => k === NEW_TOKENS).length;
    const share = firstDiff.reduce((a, k) => a + k, 0) / (ps.length * NEW_TOKENS);
    lines.push(
      `| ${name} | ${dtype} | ${bytes.toLocaleString('en')} | ${same} / ${ps.length} | ${round(share)} | ${(sum / n).toPrecision(3)} |`,
    );
  }
  return lines;
}

export async function quantReport(gpu: Gpu, log: (s: string) => void): Promise<string> {
  const out = [
    `Greedy agreement with the checkpoint's own (f32) weights, ${NEW_TOKENS} new tokens a prompt, and mean |Δlogit| along the f32 model's greedy sequences:`,
    '',
    '| model | weights | weight bytes | identical continuations | share before the first difference | mean abs Δlogit |',
    '|---|---|---|---|---|---|',
  ];
  log('stories260K…');
  // 16 prompts: BOS and a seeded word-start token
  const storyPrompts = () => Array.from({ length: 16 }, (_, i) => [1, 300 + ((i * 37) % 200)]);
  out.push(...(await modelRows(gpu, 'stories260K', STORIES_DIR, storyPrompts)));
  log('tpo-demo…');
  // the demo model's own pool, as the reduced iteration below and the Train screen draw it
  const tasks = makeChainSuite({ ...CHAIN_SUITE.chains, train: 0 }).pool.slice(0, 16);
  const demoPrompts = (m: LoadedModel) => tasks.map((t) => promptIds(m, GENERIC, t.instruction));
  out.push(...(await modelRows(gpu, 'tpo-demo', DEFAULT_MODEL_DIR, demoPrompts)));
  out.push(
    '',
    `One TPO iteration of tpo-demo (the reduced experiment: ${REDUCED.instructions} instructions × ${REDUCED.samples}), greedy on those instructions:`,
    '',
    '| base weights | accuracy before → after | mean judged score before → after | pairs |',
    '|---|---|---|---|',
  );
  for (const dtype of ['auto', 'q8', 'q4'] as const) {
    log(`TPO iteration over ${dtype}…`);
    const m = await loadModel(gpu, folderSource(DEFAULT_MODEL_DIR), { slots: 64, maxLen: 512, weightDtype: dtype });
    const store = await folderStore(mkdtempSync(join(tmpdir(), 'tpo-quant-')));
    const { before, after, metrics } = await reducedTpoIteration(m, store);
    m.destroy();
    const f = (x: number) => x.toFixed(3);
    out.push(
      `| ${dtype === 'auto' ? 'f32 (as stored)' : dtype} | ${f(before.accuracy)} → ${f(after.accuracy)} | ${f(before.mean_score)} → ${f(after.mean_score)} | ${metrics.pairs} |`,
    );
  }
  return out.join('\n');
}
