// The experiment's statistics: a mean over seeds and held-out tasks with a two-level bootstrap
// interval (seeds, then tasks), and the paired difference between the arms; and its --judge.

import { describe, expect, it } from 'vitest';
import { DEMO_RM_DIR, experimentJudge, seedTaskInterval } from '../src/demo/experiment';
import { loadModel } from '../src/engine/model';
import { folderSource } from '../src/model/source-node';
import type { ScoringJudge } from '../src/tpo/judges';
import { rewardModelJudge } from '../src/tpo/rm-judge';
import { testGpu } from './helpers/gpu';

describe('experiment intervals', () => {
  it('resample seeds and tasks: constant data gives a point, seed-to-seed spread widens the interval', () => {
    const ones = [new Array(50).fill(1), new Array(50).fill(1)];
    expect(seedTaskInterval(ones)).toEqual({ mean: 1, lo: 1, hi: 1 });
    // The difference of an arm with itself is exactly 0, whatever was resampled.
    const mixed = [Array.from({ length: 40 }, (_, i) => i % 2), Array.from({ length: 40 }, (_, i) => +(i % 3 === 0))];
    expect(seedTaskInterval(mixed, mixed)).toEqual({ mean: 0, lo: 0, hi: 0 });
    // One seed, half right: the task bootstrap brackets ½ and stays inside what 40 tasks allow.
    const one = seedTaskInterval([mixed[0]]);
    expect(one.mean).toBe(0.5);
    expect(one.lo).toBeLessThan(0.5);
    expect(one.hi).toBeGreaterThan(0.5);
    expect(one.hi - one.lo).toBeLessThan(0.4);
    // Two seeds that disagree completely: every task agrees within a seed, so only the seed draw
    // moves the mean (0, ½ or 1) and the interval spans the whole range.
    const split = seedTaskInterval([new Array(200).fill(1), new Array(200).fill(0)]);
    expect(split.mean).toBe(0.5);
    expect([split.lo, split.hi]).toEqual([0, 1]);
  });

  it('the difference is paired: the same seeds and tasks on both sides', () => {
    // The policy is right exactly where the baseline is, plus 10 more of 100 tasks, in each of 3 seeds.
    const base = [0, 1, 2].map((s) => Array.from({ length: 100 }, (_, i) => +((i + s) % 2 === 0)));
    const better = base.map((c) => c.map((v, i) => (i < 20 && v === 0 ? 1 : v)));
    const d = seedTaskInterval(better, base);
    expect(d.mean).toBeCloseTo(0.1, 12);
    expect(d.lo).toBeGreaterThan(0); // never below: every resample keeps the pairing
    expect(d.hi).toBeLessThan(0.2);
  });
});

describe('npm run experiment -- --judge', () => {
  const items = [
    {
      instruction: 'Start at 7 and work mod 10: +3, *2, -4. What is the result?',
      response: '6',
      meta: { answer: '6' },
    },
    {
      instruction: 'Start at 7 and work mod 10: +3, *2, -4. What is the result?',
      response: '5',
      meta: { answer: '6' },
    },
  ];

  it('rules (the default) scores the exact answer; rm is the demo reward model, scoring as that model does', async () => {
    const gpu = await testGpu();
    const rules = await experimentJudge(gpu);
    expect(rules.label).toBe('the exact-answer rules');
    const [right, wrong] = (await (rules.judge as ScoringJudge).score(items)) as number[];
    // 1 for the exact answer, 0.2 for a short response (docs/experiment.md)
    expect(right).toBeCloseTo(1.2, 12);
    expect(wrong).toBeCloseTo(0.2, 12);
    const rm = await experimentJudge(gpu, 'rm');
    expect(rm.label).toBe('the reward model tpo-demo-rm');
    const own = await loadModel(gpu, folderSource(DEMO_RM_DIR), { slots: 4, maxLen: 256, maxRows: 64 });
    const want = await rewardModelJudge(own, 'x').score(items);
    const got = await (rm.judge as ScoringJudge).score(items);
    expect(got).toHaveLength(2);
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i] as number, 4));
    expect(got[0]).not.toBe(got[1]); // a score of the response, not a constant
    own.destroy();
    rm.release();
  });

  it('an unknown judge or a folder with no model is a clear error', async () => {
    const gpu = await testGpu();
    await expect(experimentJudge(gpu, 'llm')).rejects.toThrow(/--judge llm: unknown judge/);
    await expect(experimentJudge(gpu, 'rm:/nonexistent/rm')).rejects.toThrow(/config\.json|not found|no such/i);
  });
});
