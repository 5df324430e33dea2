// Token log-probabilities and their gradient (src/ops/logprob.ts) against the float64 reference
// and finite differences.

import { describe, expect, it } from 'vitest';
import { rng, uniform } from '../../src/rng';
import { logSoftmax } from '../reference/ops';
import { expectClose } from '../helpers/compare';
import { runKernel } from '../helpers/run-kernel';
import { numericGrad } from '../reference/grad';

const u32 = (a: number[]) => Uint32Array.from(a);

describe('logprob', () => {
  // The forward's two entries: one workgroup a row, one thread a row (software adapters).
  it.each<[string, [number]]>([
    ['forward', [4]],
    ['forward_serial', [1]],
  ])('log-probabilities of targets, masked rows, and their gradient (%s)', async (forward, grid) => {
    const r = rng(45);
    const N = 4,
      V = 300;
    const logits = uniform(r, N * V, -6, 6);
    const target = u32([5, 0xffffffff, 299, 17]);
    const coef = Float32Array.from([0.7, 0, -1.3, 2]);
    const [lse, logp, logitSum] = await runKernel({
      shader: 'logprob',
      entry: forward,
      params: { N, V },
      buffers: {
        logits: logits,
        target_: target,
        lse: new Float32Array(N),
        logp: new Float32Array(N),
        logitSum: new Float32Array(N).fill(7),
      },
      workgroups: grid,
      read: ['lse', 'logp', 'logitSum'],
    });
    // Σ_v logits per scored row (TRL's logits/… metrics are its mean), 0 for a masked row.
    const sums = [0, 1, 2, 3].map((i) =>
      target[i] < V ? logits.subarray(i * V, (i + 1) * V).reduce((a, v) => a + v, 0) : 0,
    );
    expectClose('logitSum', logitSum, sums, 1e-4, 1e-4);
    const want = [0, 1, 2, 3].map((i) =>
      target[i] < V ? logSoftmax(logits.subarray(i * V, (i + 1) * V))[target[i]] : 0,
    );
    expectClose('logp', logp, want, 1e-5, 1e-5);
    const [dLogits] = await runKernel({
      shader: 'logprob',
      entry: 'backward',
      params: { N, V },
      buffers: { logits: logits, target_: target, lseR: lse, coef: coef, dLogits: new Float32Array(N * V) },
      workgroups: [N],
      read: ['dLogits'],
    });
    const f = (l: Float64Array) =>
      [0, 1, 2, 3].reduce(
        (s, i) => s + (target[i] < V ? coef[i] * logSoftmax(l.subarray(i * V, (i + 1) * V))[target[i]] : 0),
        0,
      );
    expectClose('dLogits', dLogits, numericGrad(f, logits), 1e-4, 1e-6);
    expect(Array.from(dLogits.subarray(V, 2 * V)).every((v) => v === 0)).toBe(true);
  });
});
