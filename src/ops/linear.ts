// The linear layer y = x·Wᵀ + b (W stored [out, in], as in PyTorch) and its gradients, as named
// calls in the spirit of llm.c's matmul_forward / matmul_backward. Every pass is one gemm
// (shaders/gemm.wgsl, whose strides stay inside this file); decode steps of an inference plan use
// the matmul's few-rows entry (shaders/matmul.wgsl) instead.
//
// Shapes: x [rows, inF], W [outF, inF], b [outF], y [rows, ldy] written at columns yOffset…
// Reference: test/reference/ops.ts `linear`; tests: test/ops/linear.test.ts.

import type { Binding } from '../gpu/kernel';
import type { WeightType } from '../gpu/shaders';
import { decodeKernel, elementsGrid, type Sized, sizeOf, type Tape } from '../gpu/tape';

/** Passes with at most this many rows use the matmul's few-rows entry (decode steps). */
export const FEW_ROWS = 16;

export interface LinearForward {
  /** Step name in profiles (default 'linear'). */
  name?: string;
  /** y [rows, ldy]: written at columns [yOffset, yOffset + outF). */
  out: Binding;
  /** x [rows, inF], read from row `inpRow` on. */
  inp: Binding;
  /** W [outF, inF] (a row chunk of a split weight is a W of its own). */
  weight: Binding;
  bias?: Binding;
  rows: Sized<number>;
  inF: number;
  outF: number;
  /** Type of W's elements (f32, or f16 base weights). */
  wt?: WeightType;
  /** y (+)= … : keep what y holds (a residual add, a LoRA delta). */
  accumulate?: boolean;
  /** Scales x·Wᵀ (LoRA's alpha/r). */
  alpha?: number;
  ldy?: number;
  yOffset?: number;
  /** First row of x read (a chunk of rows of a larger activation). */
  inpRow?: number;
}

/** y (+)= alpha·x·Wᵀ (+ b). */
export function linearForward(t: Tape, a: LinearForward): void {
  const { res } = t;
  const wt = a.wt ?? 'f32';
  const bias = a.bias ?? res.dummy;
  const ldy = a.ldy ?? a.outF;
  const yOffset = a.yOffset ?? 0;
  const accumulate = +!!a.accumulate;
  const alpha = a.alpha ?? 1;
  const hasBias = +!!a.bias;
  const rows = sizeOf(a.rows);
  const gemm = res.tape();
  const aOff = (a.inpRow ?? 0) * a.inF;
  const g = gemmKernel(res, wt);
  gemm.dispatch(
    a.name ?? 'linear',
    g.kernel,
    (s) => ({
      ...gemmStrides(rows(s), a.outF, a.inF, 'x·Wᵀ', a.inF),
      ...{ ldc: ldy, alpha, accumulate, aOff, cOff: yOffset, hasBias },
    }),
    { a: a.inp, b: a.weight, c: a.out, bias },
    (s) => [Math.ceil(a.outF / g.tile), Math.ceil(rows(s) / g.tile)],
  );
  if (!res.opts.decode || a.inpRow) {
    t.append(gemm);
    return;
  }
  const few = res.tape();
  const { k, perGroup } = decodeKernel(few, 'matmul', 'few_rows', wt);
  few.dispatch(
    a.name ?? 'linear',
    k,
    (s) => ({ N: rows(s), K: a.inF, O: a.outF, ldy, yOffset, hasBias, accumulate, scale: alpha }),
    { x: a.inp, W: a.weight, b: bias, y: a.out },
    elementsGrid(a.outF, perGroup),
  );
  t.choose(a.name ?? 'linear', (s) => (rows(s) <= FEW_ROWS ? few : gemm));
}

export interface LinearInputGrad {
  /** dx [rows, inF] (written at row `dinpRow` on). */
  dinp: Binding;
  /** dy [rows, ldDout], columns [doutOffset, doutOffset + outF). */
  dout: Binding;
  weight: Binding;
  rows: number;
  inF: number;
  outF: number;
  wt?: WeightType;
  accumulate?: boolean;
  alpha?: number;
  ldDout?: number;
  doutOffset?: number;
  dinpRow?: number;
}

/** dx (+)= alpha·dy·W. */
export function linearInputGrad(t: Tape, a: LinearInputGrad): void {
  const { res } = t;
  const ld = a.ldDout ?? a.outF;
  const strides = gemmStrides(a.rows, a.inF, a.outF, 'dy·W', ld);
  const aOff = a.doutOffset ?? 0;
  const g = gemmKernel(res, a.wt);
  t.dispatch(
    'gemm',
    g.kernel,
    {
      ...strides,
      ...{ ldc: a.inF, alpha: a.alpha ?? 1, accumulate: +!!a.accumulate },
      ...{ aOff, cOff: (a.dinpRow ?? 0) * a.inF, hasBias: 0 },
    },
    { a: a.dout, b: a.weight, c: a.dinp, bias: res.dummy },
    [Math.ceil(a.inF / g.tile), Math.ceil(a.rows / g.tile)],
  );
}

export interface LinearWeightGrad {
  /** dW [outF, inF] (f32). */
  dweight: Binding;
  /** dy [rows, outF]. */
  dout: Binding;
  /** x [rows, inF]. */
  inp: Binding;
  rows: number;
  inF: number;
  outF: number;
  alpha?: number;
  accumulate?: boolean;
}

/** dW (+)= alpha·dyᵀ·x. */
export function linearWeightGrad(t: Tape, a: LinearWeightGrad): void {
  const { res } = t;
  const strides = gemmStrides(a.outF, a.inF, a.rows, 'dyᵀ·x', a.outF);
  const g = gemmKernel(res);
  t.dispatch(
    'gemm',
    g.kernel,
    { ...strides, ldc: a.inF, alpha: a.alpha ?? 1, accumulate: +!!a.accumulate, aOff: 0, cOff: 0, hasBias: 0 },
    { a: a.dout, b: a.inp, c: a.dweight, bias: res.dummy },
    [Math.ceil(a.inF / g.tile), Math.ceil(a.outF / g.tile)],
  );
}

/** db += Σ_rows dy, as ones[1, rows]·dy (`ones` holds at least `rows` ones). */
export function linearBiasGrad(
  t: Tape,
  a: { dbias: Binding; dout: Binding; ones: Binding; rows: number; outF: number },
) {
  const strides = gemmStrides(1, a.outF, a.rows, 'onesᵀ·dy', a.outF);
  const g = gemmKernel(t.res);
  t.dispatch(
    'gemm',
    g.kernel,
    { ...strides, ldc: a.outF, alpha: 1, accumulate: 1, aOff: 0, cOff: 0, hasBias: 0 },
    { a: a.ones, b: a.dout, c: a.dbias, bias: t.res.dummy },
    [Math.ceil(a.outF / g.tile), 1],
  );
}

/**
 * gemm.wgsl computes C[M, Nn] = Σ_k A[M, K]·B[K, Nn] with A[m, k] = a[m·sAm + k·sAk] and
 * B[k, n] = b[k·sBk + n·sBn]. The passes of a linear layer (W stored [out, in]):
 *   x·Wᵀ      y[M=rows, Nn=out] = x[rows, in] · W viewed [in, out]   A row-major (ld), B = W transposed
 *   dy·W      dx[M=rows, Nn=in] = dy[rows, out] · W                   A row-major (ld), B = W
 *   dyᵀ·x     dW[M=out, Nn=in]  = dy viewed [out, rows] · x           A = dy transposed (ld), B = x
 *   onesᵀ·dy  db[M=1, Nn=out]   = ones[1, rows] · dy                  A = ones, B = dy
 */
type Pass = 'x·Wᵀ' | 'dy·W' | 'dyᵀ·x' | 'onesᵀ·dy';

function gemmStrides(M: number, Nn: number, K: number, pass: Pass, ld: number) {
  const strides = {
    x·Wᵀ: { sAm: ld, sAk: 1, sBk: 1, sBn: K },
    dy·W: { sAm: ld, sAk: 1, sBk: Nn, sBn: 1 },
    dyᵀ·x: { sAm: 1, sAk: ld, sBk: Nn, sBn: 1 },
    onesᵀ·dy: { sAm: 0, sAk: 1, sBk: Nn, sBn: 1 },
  }[pass];
  return { M, Nn, K, ...strides };
}

/**
 * The gemm entry for this adapter and its output tile edge: `main` (32×32 tiles through
 * workgroup memory) on GPUs; `serial` (64×64 tiles, no barriers) on software adapters.
 */
function gemmKernel(res: Tape['res'], wt: WeightType = 'f32') {
  const software = res.gpu.isSoftware;
  return { kernel: res.kernel('gemm', software ? 'serial' : 'main', wt), tile: software ? 64 : 32 };
}
