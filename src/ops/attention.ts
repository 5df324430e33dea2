// Causal grouped-query attention over the KV cache (shaders/attention.wgsl). Row r attends to
// cache positions starts[r]..pos of its slot. On GPUs a workgroup per (head, row); on software
// adapters (where barriers cost most) the `_serial` entries, a thread per (head, row).
// Shapes: q, out [rows, nH, hd]   caches [slots, nKV, maxLen, hd]   att [rows, nH, maxLen]
//         rowPos [rows, 2]   starts [rows]
// Reference: test/reference/ops.ts `attendOne`; tests: test/ops/attention.test.ts.

import type { Binding } from '../gpu/kernel';
import { type Sized, sizeOf, type Tape } from '../gpu/tape';

export interface AttentionDims {
  nH: number;
  nKV: number;
  hd: number;
  maxLen: number;
}

export interface AttentionForward extends AttentionDims {
  out: Binding;
  /** [rows, nH, maxLen] the softmax probabilities (saved for backward). */
  att: Binding;
  q: Binding;
  kCache: Binding;
  vCache: Binding;
  rowPos: Binding;
  starts: Binding;
  rows: Sized<number>;
}

const params = (N: number, a: AttentionDims) => ({ N, ...a, scale: 1 / Math.sqrt(a.hd) });
const dims = (a: AttentionDims): AttentionDims => ({ nH: a.nH, nKV: a.nKV, hd: a.hd, maxLen: a.maxLen });

/** The entry for (head, row) work and the y extent of its [nH, y] grid for N rows. */
function perRow(t: Tape, entry: 'forward' | 'backward_q') {
  const software = t.res.gpu.isSoftware;
  const k = t.res.kernel('attention', software ? `${entry}_serial` : entry);
  return { k, groups: (N: number) => (software ? Math.ceil(N / 64) : N) };
}

export function attentionForward(t: Tape, a: AttentionForward): void {
  if (a.hd > 256) throw new Error(`head_dim ${a.hd} > 256 is not supported by the attention kernel`);
  const rows = sizeOf(a.rows);
  const { k, groups } = perRow(t, 'forward');
  const d = dims(a);
  const bufs = { rows: a.rowPos, q: a.q, kCache: a.kCache, vCache: a.vCache, att: a.att, out: a.out, starts: a.starts };
  t.dispatch(
    'attention',
    k,
    (s) => params(rows(s), d),
    bufs,
    (s) => [a.nH, groups(rows(s))],
  );
}

export interface AttentionBackward extends AttentionDims {
  dq: Binding;
  dkCache: Binding;
  dvCache: Binding;
  /** [rows, nH, maxLen] scratch: ∂loss/∂scores. */
  dscores: Binding;
  dout: Binding;
  q: Binding;
  kCache: Binding;
  vCache: Binding;
  att: Binding;
  rowPos: Binding;
  rows: number;
  /** Cache slots (sequences of the padded batch). */
  slots: number;
}

export function attentionBackward(t: Tape, a: AttentionBackward): void {
  const p = params(a.rows, dims(a));
  const { k, groups } = perRow(t, 'backward_q');
  const forQ = { rows: a.rowPos, kCache: a.kCache, vCache: a.vCache, att: a.att, dOut: a.dout };
  t.dispatch('attention', k, p, { ...forQ, dS: a.dscores, dq: a.dq }, [a.nH, groups(a.rows)]);
  const software = t.res.gpu.isSoftware;
  const kv = t.res.kernel('attention', software ? 'backward_kv_serial' : 'backward_kv');
  const forKv = { q: a.q, att: a.att, dOut: a.dout, dSr: a.dscores };
  // serial: one thread per (key, four dims), 64 a workgroup; else one workgroup per key
  const keys = software ? Math.ceil((a.maxLen * Math.ceil(a.hd / 4)) / 64) : a.maxLen;
  t.dispatch('attention', kv, p, { ...forKv, dKc: a.dkCache, dVc: a.dvCache }, [keys, a.nKV, a.slots]);
}
