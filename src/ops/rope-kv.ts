// RoPE and the KV-cache write (shaders/rope_kv.wgsl): q rotated in place, k rotated and v copied
// into the caches at [slot, kvHead, pos]. Row r is cache slot rows[2r] at position rows[2r+1].
// Shapes: q [rows, nH, hd]   k, v [rows, nKV, hd]   caches [slots, nKV, maxLen, hd]
//         rows [rows, 2]   cs [maxLen, hd/2, 2] (cos, sin; engine/rope.ts `ropeTable`)
// Reference: test/reference/ops.ts `rope`; tests: test/ops/rope-kv.test.ts.

import type { Binding } from '../gpu/kernel';
import { type Sized, type Tape, sizeOf } from '../gpu/tape';

export interface RopeDims {
  nH: number;
  nKV: number;
  hd: number;
  maxLen: number;
}

export interface RopeKvForward extends RopeDims {
  q: Binding;
  k: Binding;
  v: Binding;
  kCache: Binding;
  vCache: Binding;
  rowPos: Binding;
  cosSin: Binding;
  rows: Sized<number>;
}

export function ropeKvForward(t: Tape, a: RopeKvForward): void {
  const rows = sizeOf(a.rows);
  const { nH, nKV, hd, maxLen } = a;
  t.dispatch(
    'rope_kv',
    t.res.kernel('ropeKv', 'forward'),
    (s) => ({ N: rows(s), nH, nKV, hd, maxLen }),
    { rows: a.rowPos, cs: a.cosSin, q: a.q, k: a.k, v: a.v, kCache: a.kCache, vCache: a.vCache },
    (s) => [Math.ceil(((nH + nKV) * hd) / 2 / 64), rows(s)],
  );
}

export interface RopeKvBackward extends RopeDims {
  /** ∂loss/∂q after RoPE on entry; un-rotated in place. */
  dq: Binding;
  dk: Binding;
  dv: Binding;
  dkCache: Binding;
  dvCache: Binding;
  rowPos: Binding;
  cosSin: Binding;
  rows: number;
}

export function ropeKvBackward(t: Tape, a: RopeKvBackward): void {
  const { nH, nKV, hd, maxLen } = a;
  t.dispatch(
    'rope_kv',
    t.res.kernel('ropeKv', 'backward'),
    { N: a.rows, nH, nKV, hd, maxLen },
    { rows: a.rowPos, cs: a.cosSin, dq: a.dq, dk: a.dk, dv: a.dv, dKc: a.dkCache, dVc: a.dvCache },
    [Math.ceil(((nH + nKV) * hd) / 2 / 64), a.rows],
  );
}
