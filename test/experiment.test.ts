// The experiment's statistics: a mean over seeds and held-out tasks with a two-level bootstrap
// interval (seeds, then tasks), and the paired difference between the arms.

import { describe, expect, it } from 'vitest';
import { seedTaskInterval } from '../src/demo/experiment';

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
