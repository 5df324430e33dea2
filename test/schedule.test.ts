// The learning-rate schedules against HF's get_*_schedule_with_warmup values, and each epoch's
// seeded data order (HF's Trainer shuffles every epoch).

import { describe, expect, it } from 'vitest';
import { learningRate } from '../src/train/schedule';
import { epochOrder } from '../src/train/trainer';

describe('learning-rate schedule', () => {
  it('warmup starts at lr·0 on the first step, as HF schedulers do, then decays', () => {
    // HF: lr_lambda(step) = step / max(1, warmup) during warmup, then the decay over (total − warmup) steps.
    const lin = Array.from({ length: 10 }, (_, s) => learningRate(s, 10, 1, 4, 'linear'));
    expect(lin).toEqual([0, 0.25, 0.5, 0.75, 1, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6].map((v) => expect.closeTo(v, 12)));
    const cos = Array.from({ length: 10 }, (_, s) => learningRate(s, 10, 2, 4, 'cosine'));
    cos.slice(4).forEach((v, k) => expect(v).toBeCloseTo(1 + Math.cos((Math.PI * k) / 6), 12));
    expect(cos.slice(0, 4)).toEqual([0, 0.5, 1, 1.5]);
    expect(learningRate(0, 10, 3, 0, 'constant')).toBe(3);
    expect(learningRate(0, 10, 3, 0, 'linear')).toBe(3); // no warmup: the first step at the peak
  });
});

describe('epoch order', () => {
  it('each epoch is a seeded permutation: the same for the same seed and epoch, different across epochs', () => {
    const o = { shuffle: true, seed: 5 };
    const e0 = epochOrder(20, 0, o);
    expect([...e0].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(epochOrder(20, 0, o)).toEqual(e0); // a resumed or repeated run sees the same order
    expect(epochOrder(20, 1, o)).not.toEqual(e0);
    expect(epochOrder(20, 0, { shuffle: true, seed: 6 })).not.toEqual(e0);
    expect(e0).not.toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(epochOrder(5, 3, { shuffle: false, seed: 5 })).toEqual([0, 1, 2, 3, 4]);
  });
});
