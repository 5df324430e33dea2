// The last steps of an inference pass: gather the rows whose outputs are wanted
// (shaders/gather_rows.wgsl), and sample one token per output row on the GPU (shaders/sample.wgsl:
// temperature, top-p, a counter-based PRNG per sequence; temperature 0 is argmax).
// Shapes: idx [B]   x [N, H]   out [B, H]   logits [B, V]   seqs [B] {seed, step, temperature, topP}
// Reference: test/reference/sample.ts; tests: test/ops/sample.test.ts.

import type { Binding } from '../gpu/kernel';
import type { PassSizes, Tape } from '../gpu/tape';

export function gatherRows(t: Tape, a: { out: Binding; inp: Binding; idx: Binding; H: number }): void {
  const k = t.res.kernel('gatherRows');
  const grid = (s: PassSizes): [number, number] => [Math.ceil(a.H / 64), s.B];
  t.dispatch('gather_rows', k, (s) => ({ B: s.B, H: a.H }), { idx: a.idx, x: a.inp, out: a.out }, grid);
}

export function sampleTokens(t: Tape, a: { tokens: Binding; logits: Binding; seqs: Binding; V: number }): void {
  const bufs = { logits: a.logits, seqs: a.seqs, tokens: a.tokens };
  t.dispatch(
    'sample',
    t.res.kernel('sample'),
    (s) => ({ B: s.B, V: a.V }),
    bufs,
    (s) => [s.B],
  );
}
