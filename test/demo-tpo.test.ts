// The experiment, reduced: one TPO iteration of the embedded demo model on its 64 first pool
// instructions (generic thought prompt, programmatic judge, LoRA DPO) raises the judged score on
// those training instructions. The full experiment is `npm run experiment` (README table).

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/engine/model';
import { folderSource } from '../src/model/source-node';
import { REDUCED, reducedTpoIteration } from '../src/demo/reduced';
import { folderStore } from '../src/tpo/store-node';
import { testGpu } from './helpers/gpu';

const DEMO = join(__dirname, '../public/models/tpo-demo');

describe('TPO on the demo model (the experiment, reduced)', () => {
  it('one iteration raises the greedy accuracy and judged score on its training instructions', async () => {
    const gpu = await testGpu();
    const model = await loadModel(gpu, folderSource(DEMO), { slots: 64, maxLen: 512 });
    // A TPO iteration as `npm run experiment` runs one (there each seed draws its own pool order): 64 pool
    // instructions, K = 4 samples at the paper's T = 0.8 / top-p 0.95, the same DPO settings.
    const store = await folderStore(mkdtempSync(join(tmpdir(), 'tpo-demo-run-')));
    const { before, after, metrics: m } = await reducedTpoIteration(model, store);
    model.destroy();
    const { instructions, samples: K } = REDUCED;
    console.log(
      `demo TPO, ${instructions} instructions × ${K}: greedy accuracy ${before.accuracy.toFixed(3)} → ${after.accuracy.toFixed(3)}, mean judged score ${before.mean_score.toFixed(3)} → ${after.mean_score.toFixed(3)}, scratchpads ${JSON.stringify(before.thought_styles)} → ${JSON.stringify(after.thought_styles)} (${m.pairs} pairs; last DPO step: loss ${m.dpo.at(-1)!.loss.toFixed(3)}, accuracy ${m.dpo.at(-1)!['rewards/accuracies']})`,
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
