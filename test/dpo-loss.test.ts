// The DPO loss of one pair, by hand (TRL's dpo_loss with the sigmoid loss and label smoothing).

import { describe, expect, it } from 'vitest';
import { dpoLoss } from '../src/train/dpo-loss';

const pair = { chosenLogp: -10, rejectedLogp: -12, refChosenLogp: -11, refRejectedLogp: -11 };

describe('dpoLoss', () => {
  it('names every intermediate as TRL does, and the loss is −log σ(β·logits)', () => {
    // chosen_logratios = 1, rejected_logratios = −1, logits = 2, β·logits = 0.2
    const d = dpoLoss(pair, 0.1);
    expect(d.logits).toBe(2);
    expect(d.chosenReward).toBeCloseTo(0.1, 15);
    expect(d.rejectedReward).toBeCloseTo(-0.1, 15);
    expect(d.loss).toBeCloseTo(0.5981388693, 9); // log(1 + e^−0.2)
    // ∂loss/∂π(chosen) = −β·(1 − σ(0.2)) = −0.1 · 0.4501660027
    expect(d.dChosenLogp).toBeCloseTo(-0.04501660027, 10);
    expect(d.dRejectedLogp).toBeCloseTo(0.04501660027, 10);
  });

  it('label smoothing ε mixes in −log σ(−β·logits)', () => {
    const d = dpoLoss(pair, 0.1, 0.1);
    // 0.9 · log(1 + e^−0.2) + 0.1 · log(1 + e^0.2)
    expect(d.loss).toBeCloseTo(0.6181388693, 9);
    // β · (−0.9 · (1 − σ(0.2)) + 0.1 · σ(0.2)) = 0.1 · −0.3501660027
    expect(d.dChosenLogp).toBeCloseTo(-0.03501660027, 10);
    expect(d.dRejectedLogp).toBeCloseTo(0.03501660027, 10);
  });

  it('a pair the policy does not yet separate costs ln 2', () => {
    const d = dpoLoss({ chosenLogp: -5, rejectedLogp: -7, refChosenLogp: -5, refRejectedLogp: -7 }, 0.5);
    expect(d.logits).toBe(0);
    expect(d.loss).toBeCloseTo(Math.LN2, 15);
    expect(d.dChosenLogp).toBeCloseTo(-0.25, 15); // −β/2
  });

  it('the gradient equals finite differences, and large margins stay finite', () => {
    const h = 1e-6;
    for (const eps of [0, 0.2]) {
      const d = dpoLoss(pair, 0.3, eps);
      const up = dpoLoss({ ...pair, chosenLogp: pair.chosenLogp + h }, 0.3, eps).loss;
      const down = dpoLoss({ ...pair, chosenLogp: pair.chosenLogp - h }, 0.3, eps).loss;
      expect(d.dChosenLogp).toBeCloseTo((up - down) / (2 * h), 7);
      const upR = dpoLoss({ ...pair, rejectedLogp: pair.rejectedLogp + h }, 0.3, eps).loss;
      const downR = dpoLoss({ ...pair, rejectedLogp: pair.rejectedLogp - h }, 0.3, eps).loss;
      expect(d.dRejectedLogp).toBeCloseTo((upR - downR) / (2 * h), 7);
    }
    const far = dpoLoss({ ...pair, chosenLogp: -1e4 }, 1);
    expect(Number.isFinite(far.loss)).toBe(true);
    // logits = (−10⁴ + 11) − (−12 + 11) = −9988: the loss ≈ −β·logits for a very wrong pair
    expect(far.loss).toBeCloseTo(9988, 6);
  });
});
