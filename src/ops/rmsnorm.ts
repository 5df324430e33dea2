// RMSNorm (shaders/rmsnorm.wgsl): y = x·rstd·w with rstd = 1/√(mean(x²) + eps), per row of `width`.
// Shapes: x, y, dx [rows, width]   w, dw [width]   rstd [rows] (saved by the forward for backward).
// Reference: test/reference/ops.ts `rmsnorm`; tests: test/ops/rmsnorm.test.ts.

import type { Binding } from '../gpu/kernel';
import { rowKernel, type Sized, type Tape, sizeOf } from '../gpu/tape';

export interface RmsnormForward {
  out: Binding;
  /** [rows] 1/rms of each row: written when `saveRstd` (training), else scratch. */
  rstd: Binding;
  inp: Binding;
  weight: Binding;
  rows: Sized<number>;
  width: number;
  eps: number;
  saveRstd?: boolean;
}

export function rmsnormForward(t: Tape, a: RmsnormForward, name = 'rmsnorm'): void {
  const rows = sizeOf(a.rows);
  const { k, grid } = rowKernel(t, 'rmsnorm', 'forward');
  t.dispatch(
    name,
    k,
    (s) => ({ N: rows(s), H: a.width, eps: a.eps, saveRstd: +!!a.saveRstd }),
    { x: a.inp, w: a.weight, y: a.out, rstd: a.rstd },
    (s) => grid(rows(s)),
  );
}

export interface RmsnormBackward {
  /** dx (+)= ∂loss/∂x. */
  dinp: Binding;
  /** With full training: dw += ∂loss/∂w. */
  dweight?: Binding;
  dout: Binding;
  inp: Binding;
  weight: Binding;
  rstd: Binding;
  rows: number;
  width: number;
  accumulate: boolean;
}

export function rmsnormBackward(t: Tape, a: RmsnormBackward): void {
  const bufs = { bx: a.inp, bw: a.weight, bdy: a.dout, brstd: a.rstd };
  const { rows: N, width: H } = a;
  const { k: back, grid } = rowKernel(t, 'rmsnorm', 'backward');
  t.dispatch('rmsnorm', back, { N, H, accumulate: +a.accumulate }, { ...bufs, bdx: a.dinp }, grid(N));
  if (!a.dweight) return;
  const k = t.res.kernel('rmsnorm', 'backward_weight');
  const saved = { bx: a.inp, bdy: a.dout, brstd: a.rstd };
  t.dispatch('rmsnorm', k, { N, H, accumulate: 1 }, { ...saved, bdw: a.dweight }, [Math.ceil(H / 64)]);
}
