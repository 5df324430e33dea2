// The experiment, reduced to one TPO iteration on the chain suite's 64 first pool instructions
// (generic thought prompt, K = 4 at the paper's T = 0.8 / top-p 0.95, the programmatic judge, LoRA
// DPO with the experiment's settings), scored greedily on those instructions before and after.
// test/demo-tpo.test.ts holds it to a gain; `npm run bench -- --quant` compares weight storages.

import type { LoadedModel } from '../engine/model';
import { type Judge, rulesJudge } from '../tpo/judges';
import { runIteration } from '../tpo/loop';
import { GENERIC } from '../tpo/prompts';
import type { IterationMetrics, RunStore } from '../tpo/store';
import { loadAdapter } from '../train/peft';
import { TARGETS } from '../train/lora';
import { DEFAULT_TRAIN } from '../train/trainer';
import { type DemoScore, scoreTasks } from './score';
import { CHAIN_SUITE, demoJudgeRules, makeChainSuite } from './tasks';
import { PAPER_SAMPLING } from '../tpo/sampling';

export const REDUCED = { instructions: 64, samples: 4 };

/**
 * Runs the iteration into `store` (judged by `judge`, by default the suite's rules), attaches its
 * adapter to `model` and scores before and after (always by the rules: the exact answer).
 */
export async function reducedTpoIteration(
  model: LoadedModel,
  store: RunStore,
  judge: Judge = rulesJudge(demoJudgeRules()),
): Promise<{ before: DemoScore; after: DemoScore; metrics: IterationMetrics }> {
  const tasks = makeChainSuite({ ...CHAIN_SUITE.chains, train: 0 }).pool.slice(0, REDUCED.instructions);
  const items = tasks.map((t) => ({ id: t.id, instruction: t.instruction, meta: { answer: t.answer } }));
  const greedy = () => scoreTasks(model, tasks, GENERIC);
  const before = await greedy();
  const metrics = await runIteration({ model, judge, store }, 0, items, {
    prompt: GENERIC,
    samples: REDUCED.samples,
    ...PAPER_SAMPLING,
    seed: 0,
    maxNewTokens: 128,
    perIteration: items.length,
    rho: 0.1,
    lora: { r: 8, alpha: 16, targets: [...TARGETS] },
    train: { ...DEFAULT_TRAIN, lr: 1e-2, epochs: 3, batchSize: 4, beta: 0.1 },
    maxLength: 256,
    baseModel: 'tpo-demo',
  });
  const files = await store.readAdapter(0);
  if (!files) throw new Error('the iteration stored no adapter');
  const ad = loadAdapter(model.config, files['adapter_config.json'], files['adapter_model.safetensors']);
  model.attachAdapter(ad.layout, ad.values);
  return { before, after: await greedy(), metrics };
}
