// The experiment, reduced: one TPO iteration of the embedded demo model on a few pool
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
import { promptIds, runIteration } from '../src/tpo/loop';
import { GENERIC, parseOutput } from '../src/tpo/prompts';
import { folderStore } from '../src/tpo/store-node';
import { loadAdapter } from '../src/train/peft';
import { TARGETS } from '../src/train/lora';
import { DEFAULT_TRAIN } from '../src/train/trainer';
import { testGpu } from './helpers/gpu';

const DEMO = join(__dirname, '../public/models/tpo-demo');

describe('TPO on the demo model (the experiment, reduced)', () => {
  it('one iteration raises the mean judged score on its training instructions', async () => {
    const gpu = await testGpu();
    const model = await loadModel(gpu, folderSource(DEMO), { slots: 32, maxLen: 512 });
    const tasks = makeSplits(DEMO_SEED, { ...DEMO_SPLITS, train: 0 }).pool.slice(0, 8);
    const items = tasks.map((t) => ({ id: t.id, instruction: t.instruction, meta: { answer: t.answer } }));
    const judge = rulesJudge(demoJudgeRules());
    const K = 4;
    /** Mean judge score (parse failures 0) of K samples per task, seeds fixed. */
    const meanScore = async (seed: number) => {
      const gens = await model.generate(items.flatMap((x) => Array.from({ length: K }, () => promptIds(model, GENERIC, x.instruction))), {
        maxNewTokens: 128, temperature: 1, topP: 1, seeds: Array.from({ length: items.length * K }, (_, i) => seed + i),
      });
      let total = 0;
      for (let i = 0; i < gens.length; i++) {
        const p = parseOutput(GENERIC, gens[i].text ?? '');
        if (p.ok) total += (await judge.score([{ instruction: items[Math.floor(i / K)].instruction, response: p.response, meta: items[Math.floor(i / K)].meta }]))[0];
      }
      return total / gens.length;
    };
    const before = await meanScore(1000);
    const store = await folderStore(mkdtempSync(join(tmpdir(), 'tpo-demo-run-')));
    const m = await runIteration({ model, judge, store }, 0, items, {
      prompt: GENERIC, samples: K, temperature: 1, topP: 1, seed: 0, maxNewTokens: 128, perIteration: items.length, rho: 0.1,
      lora: { r: 8, alpha: 16, targets: [...TARGETS] },
      train: { ...DEFAULT_TRAIN, lr: 5e-3, epochs: 8, batchSize: 4, beta: 0.1 },
      maxLength: 256, baseModel: 'tpo-demo',
    });
    expect(m.pairs).toBeGreaterThanOrEqual(4);
    expect(m.dpo.at(-1)!['rewards/accuracies']).toBeGreaterThan(0.5);
    const files = (await store.readAdapter(0))!;
    const ad = loadAdapter(model.config, files['adapter_config.json'], files['adapter_model.safetensors']);
    model.attachAdapter(ad.layout, ad.values);
    const after = await meanScore(1000);
    model.destroy();
    console.log(`demo TPO, 8 instructions × ${K}: mean judged score ${before.toFixed(3)} → ${after.toFixed(3)} (${m.pairs} pairs)`);
    expect(after).toBeGreaterThan(before + 0.05);
  }, 900_000);
});
