// The experiment, reduced: one TPO iteration of the embedded demo model on its 64 first pool
// instructions (generic thought prompt, programmatic judge, LoRA DPO) raises the judged score on
// those training instructions. The full experiment is `npm run experiment` (README table).

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/engine/model';
import { folderSource } from '../src/model/source-node';
import { DEMO_SEED, DEMO_SPLITS, demoJudgeRules, makeSplits } from '../src/demo/tasks';
import { rulesJudge } from '../src/tpo/judges';
import { runIteration } from '../src/tpo/loop';
import { GENERIC } from '../src/tpo/prompts';
import { scoreTasks } from '../src/demo/score';
import { folderStore } from '../src/tpo/store-node';
import { loadAdapter } from '../src/train/peft';
import { TARGETS } from '../src/train/lora';
import { DEFAULT_TRAIN } from '../src/train/trainer';
import { testGpu } from './helpers/gpu';

const DEMO = join(__dirname, '../public/models/tpo-demo');

describe('TPO on the demo model (the experiment, reduced)', () => {
  it('one iteration raises the greedy accuracy and judged score on its training instructions', async () => {
    const gpu = await testGpu();
    const model = await loadModel(gpu, folderSource(DEMO), { slots: 64, maxLen: 512 });
    // A TPO iteration as `npm run experiment` runs one (there each seed draws its own pool order): 64 pool
    // instructions, K = 4 samples at the paper's T = 0.8 / top-p 0.95, the same DPO settings.
    const tasks = makeSplits(DEMO_SEED, { ...DEMO_SPLITS, train: 0 }).pool.slice(0, 64);
    const items = tasks.map((t) => ({ id: t.id, instruction: t.instruction, meta: { answer: t.answer } }));
    const judge = rulesJudge(demoJudgeRules());
    const K = 4;
    /** Greedy, as the experiment scores: accuracy and mean judged score on these instructions. */
    const greedy = () => scoreTasks(model, tasks, GENERIC);
    const before = await greedy();
    const store = await folderStore(mkdtempSync(join(tmpdir(), 'tpo-demo-run-')));
    const m = await runIteration({ model, judge, store }, 0, items, {
      prompt: GENERIC,
      samples: K,
      temperature: 0.8,
      topP: 0.95,
      seed: 0,
      maxNewTokens: 128,
      perIteration: items.length,
      rho: 0.1,
      lora: { r: 8, alpha: 16, targets: [...TARGETS] },
      train: { ...DEFAULT_TRAIN, lr: 1e-2, epochs: 3, batchSize: 4, beta: 0.1 },
      maxLength: 256,
      baseModel: 'tpo-demo',
    });
    const files = (await store.readAdapter(0))!;
    const ad = loadAdapter(model.config, files['adapter_config.json'], files['adapter_model.safetensors']);
    model.attachAdapter(ad.layout, ad.values);
    const after = await greedy();
    model.destroy();
    console.log(
      `demo TPO, ${items.length} instructions × ${K}: greedy accuracy ${before.accuracy.toFixed(3)} → ${after.accuracy.toFixed(3)}, mean judged score ${before.mean_score.toFixed(3)} → ${after.mean_score.toFixed(3)}, scratchpads ${JSON.stringify(before.thought_styles)} → ${JSON.stringify(after.thought_styles)} (${m.pairs} pairs; last DPO step: loss ${m.dpo.at(-1)!.loss.toFixed(3)}, accuracy ${m.dpo.at(-1)!['rewards/accuracies']})`,
    );
    expect(m.pairs).toBeGreaterThanOrEqual(4);
    // Reward accuracy over the last epoch's pairs (steps of 4 pairs, the last one holds the remainder):
    // one step alone can hold a single pair, the epoch holds every pair once.
    const perEpoch = Math.ceil(m.pairs / 4);
    const last = m.dpo.slice(-perEpoch);
    const sizes = last.map((_, i) => (i < perEpoch - 1 ? 4 : m.pairs - 4 * (perEpoch - 1)));
    const right = last.reduce((a, s, i) => a + s['rewards/accuracies']! * sizes[i], 0);
    console.log(`last epoch: ${right.toFixed(0)} of ${m.pairs} pairs with chosen reward > rejected`);
    expect(right / m.pairs).toBeGreaterThan(0.5);
    expect(after.accuracy).toBeGreaterThan(before.accuracy);
    expect(after.mean_score).toBeGreaterThan(before.mean_score + 0.02);
  }, 900_000);
});
