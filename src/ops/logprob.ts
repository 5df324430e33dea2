// Token log-probabilities and their gradient (shaders/logprob.wgsl), one workgroup per row
// (the forward: one thread per row on software adapters):
// logp[r] = logits[r, target[r]] − logsumexp(logits[r]);  logitSum[r] = Σ_v logits[r, v];
// dLogits = coef·(onehot − softmax).
// Shapes: logits, dLogits [rows, V]   targets, lse, logp, logitSum, coef [rows]
// Reference: test/reference/ops.ts `logSoftmax`; tests: test/ops/logprob.test.ts.

import type { Binding } from '../gpu/kernel';
import { rowKernel, type Tape } from '../gpu/tape';

export function logprobForward(
  t: Tape,
  a: { logp: Binding; logitSum: Binding; lse: Binding; logits: Binding; targets: Binding; rows: number; V: number },
): void {
  const bufs = { logits: a.logits, target_: a.targets, lse: a.lse, logp: a.logp, logitSum: a.logitSum };
  const { k, grid } = rowKernel(t, 'logprob', 'forward');
  t.dispatch('logprob', k, { N: a.rows, V: a.V }, bufs, grid(a.rows));
}

export function logprobBackward(
  t: Tape,
  a: { dlogits: Binding; logits: Binding; targets: Binding; lse: Binding; coef: Binding; rows: number; V: number },
): void {
  const bufs = { logits: a.logits, target_: a.targets, lseR: a.lse, coef: a.coef, dLogits: a.dlogits };
  t.dispatch('logprob', t.res.kernel('logprob', 'backward'), { N: a.rows, V: a.V }, bufs, [a.rows]);
}
