// RMSNorm folded into the linears that read its output, for decode steps (≤ 16 rows;
// shaders/norm_linear.wgsl): q, k and v from one dispatch, and SwiGLU's gate and up (with the
// activation) from another. Prefill and training keep the separate ops: same math, other kernels.
// Shapes: x [rows, K]   g [K]   W1..3 [Oj, K]   q/k/v regions of one buffer [rows, Oj] at yOff_j
// Reference: test/reference/ops.ts (rmsnorm, linear, silu); tests: test/ops/norm-linear.test.ts.

import type { Binding } from '../gpu/kernel';
import type { WeightType } from '../gpu/shaders';
import { decodeKernel, elementsGrid, type PassSizes, type Tape } from '../gpu/tape';

export interface NormQkv {
  /** One buffer holding the q, k and v regions, each [rows, Oj] starting at element yOff[j]. */
  out: GPUBuffer;
  yOff: [number, number, number];
  inp: Binding;
  /** The norm's weight [K]. */
  normWeight: Binding;
  weights: [Binding, Binding, Binding];
  outF: [number, number, number];
  /** The three biases back to back [O1 + O2 + O3], when the model has them. */
  bias?: Binding;
  rows: (s: PassSizes) => number;
  K: number;
  eps: number;
  wt: WeightType;
}

/** q, k, v = rmsnorm(x)·W_q/k/vᵀ (+ biases), one dispatch. */
export function normQkvForward(t: Tape, a: NormQkv): void {
  const { k, perGroup } = decodeKernel(t, 'normLinear', 'qkv', a.wt);
  const [O1, O2, O3] = a.outF;
  const [yOff1, yOff2, yOff3] = a.yOff;
  const params = (s: PassSizes) => ({
    ...{ N: a.rows(s), K: a.K, O1, O2, O3, eps: a.eps, hasBias: +!!a.bias },
    ...{ yOff1, yOff2, yOff3 },
  });
  const [W1, W2, W3] = a.weights;
  const bufs = { x: a.inp, g: a.normWeight, W1, W2, W3, b: a.bias ?? t.res.dummy, y: a.out };
  t.dispatch('norm_qkv', k, params, bufs, elementsGrid(O1 + O2 + O3, perGroup));
}

export interface NormGateUp {
  /** act [rows, O] = silu(rmsnorm(x)·W_gateᵀ) ⊙ rmsnorm(x)·W_upᵀ */
  out: Binding;
  inp: Binding;
  normWeight: Binding;
  gate: Binding;
  up: Binding;
  rows: (s: PassSizes) => number;
  K: number;
  O: number;
  eps: number;
  wt: WeightType;
}

/** The MLP's first half, one dispatch. */
export function normGateUpForward(t: Tape, a: NormGateUp): void {
  const { k, perGroup } = decodeKernel(t, 'normLinear', 'gate_up', a.wt);
  const params = (s: PassSizes) => ({
    ...{ N: a.rows(s), K: a.K, O1: a.O, O2: a.O, O3: 0, eps: a.eps, hasBias: 0 },
    ...{ yOff1: 0, yOff2: 0, yOff3: 0 },
  });
  const bufs = { x: a.inp, g: a.normWeight, W1: a.gate, W2: a.up, W3: a.gate, y: a.out };
  t.dispatch('norm_gate_up', k, params, bufs, elementsGrid(a.O, perGroup));
}
