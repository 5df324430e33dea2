// A LoRA adapter on a linear layer (PEFT): y += s·(x·Aᵀ)·Bᵀ with s = alpha/r, through the
// intermediate t = x·Aᵀ [rows, r]. The same two calls serve the inference plan and the training
// graph; the backward is four linear gradients.
// Shapes: x [rows, inF]   A [r, inF]   B [outF, r]   t, dt [rows, r]   y, dy [rows, outF]
// Reference: test/reference/lora.ts; tests: test/ops/lora.test.ts and the whole-model checks.

import type { Binding } from '../gpu/kernel';
import type { Sized, Tape } from '../gpu/tape';
import { linearForward, linearInputGrad, linearWeightGrad } from './linear';

export interface LoraDims {
  rows: number;
  inF: number;
  outF: number;
  r: number;
  /** alpha / r */
  scale: number;
}

export interface LoraForward extends Omit<LoraDims, 'rows'> {
  /** y += s·t·Bᵀ */
  out: Binding;
  /** t = x·Aᵀ (kept for backward in training) */
  tmp: Binding;
  inp: Binding;
  A: Binding;
  B: Binding;
  rows: Sized<number>;
  name?: string;
}

export function loraForward(t: Tape, a: LoraForward): void {
  const name = a.name ?? 'lora';
  linearForward(t, { name, out: a.tmp, inp: a.inp, weight: a.A, rows: a.rows, inF: a.inF, outF: a.r });
  const up = { name, out: a.out, inp: a.tmp, weight: a.B, rows: a.rows, inF: a.r, outF: a.outF };
  linearForward(t, { ...up, accumulate: true, alpha: a.scale });
}

export interface LoraBackward extends LoraDims {
  /** dx += s·(dy·B)·A */
  dinp: Binding;
  dA: Binding;
  dB: Binding;
  /** scratch [rows, r] */
  dtmp: Binding;
  dout: Binding;
  inp: Binding;
  tmp: Binding;
  A: Binding;
  B: Binding;
}

/** dB += s·dyᵀ·t;  dt = s·dy·B;  dA += dtᵀ·x;  dx += dt·A. */
export function loraBackward(t: Tape, a: LoraBackward): void {
  const { rows, inF, outF, r, scale } = a;
  linearWeightGrad(t, { dweight: a.dB, dout: a.dout, inp: a.tmp, rows, inF: r, outF, alpha: scale, accumulate: true });
  linearInputGrad(t, { dinp: a.dtmp, dout: a.dout, weight: a.B, rows, inF: r, outF, alpha: scale });
  linearWeightGrad(t, { dweight: a.dA, dout: a.dtmp, inp: a.inp, rows, inF, outF: r, accumulate: true });
  linearInputGrad(t, { dinp: a.dinp, dout: a.dtmp, weight: a.A, rows, inF, outF: r, accumulate: true });
}
