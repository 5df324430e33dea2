// The linear op (src/ops/linear.ts): the decode matmul and the strided gemm (every pass of a
// linear layer) against the float64 reference.

import { describe, expect, it } from 'vitest';
import { subgroupsHere, testGpu } from '../helpers/gpu';
import { rng, uniform } from '../../src/rng';
import { linear } from '../reference/ops';
import { expectClose } from '../helpers/compare';
import { runKernel } from '../helpers/run-kernel';
import { storedWeights } from '../helpers/stored-weights';

const SUBGROUPS = await subgroupsHere();

describe('matmul: y = scale·x·Wᵀ + b (+ y)', () => {
  const all = [
    { N: 1, K: 64, O: 48, entry: 'few_rows', subgroups: false },
    { N: 5, K: 37, O: 70, entry: 'few_rows', subgroups: false },
    { N: 16, K: 200, O: 9, entry: 'few_rows', subgroups: false },
    { N: 1, K: 64, O: 48, entry: 'few_rows_serial', subgroups: false },
    { N: 11, K: 37, O: 130, entry: 'few_rows_serial', subgroups: false },
    { N: 1, K: 64, O: 48, entry: 'few_rows', subgroups: true },
    { N: 5, K: 37, O: 70, entry: 'few_rows', subgroups: true },
    { N: 16, K: 300, O: 9, entry: 'few_rows', subgroups: true },
  ];
  const cases = all.filter((c) => SUBGROUPS || !c.subgroups);
  it('the subgroup variant runs where the adapter grants subgroups (SwiftShader must)', async () => {
    const gpu = await testGpu();
    expect(cases.filter((c) => c.subgroups)).toHaveLength(gpu.hasSubgroups ? 3 : 0);
    if (/swiftshader/i.test(gpu.adapterName)) expect(gpu.hasSubgroups).toBe(true);
  });
  for (const { N, K, O, entry, subgroups } of cases) {
    const workgroups: [number, number] = entry === 'few_rows_serial' ? [Math.ceil(O / 64), 1] : [O, 1];
    it(`${entry}${subgroups ? ' (subgroup reduction)' : ''}: N=${N} K=${K} O=${O}, bias and accumulate`, async () => {
      const r = rng(N * 1000 + K);
      const x = uniform(r, N * K),
        W = uniform(r, O * K),
        b = uniform(r, O);
      const ldy = O + 3,
        yOffset = 2;
      const y0 = uniform(r, N * ldy);
      const [y] = await runKernel({
        shader: 'matmul',
        entry,
        subgroups,
        params: { N, K, O, ldy, yOffset, hasBias: 1, accumulate: 1, scale: 0.75 },
        buffers: { x: x, W: W, b: b, y: y0 },
        workgroups,
        read: ['y'],
      });
      const ref = linear(x, W, N, K, O);
      const want = Float64Array.from(y0);
      for (let i = 0; i < N; i++)
        for (let o = 0; o < O; o++) want[i * ldy + yOffset + o] += 0.75 * ref[i * O + o] + b[o];
      expectClose('matmul', y, want, 1e-5, 1e-5);
    });
  }
  // 16-bit weights packed two per u32 and quantized q8 / q4 ones (any adapter): against the
  // reference on the values as stored (the kernels' only own error is f32 accumulation)
  for (const wt of ['bf16', 'f16', 'q8', 'q4'] as const)
    it(`${wt} weights: decode entries, the gemm and its input gradient, exact on the stored ${wt} values`, async () => {
      const r = rng(9);
      const N = 3;
      const K = 41; // odd: a row starts in the high half of a word, and quantization groups span rows
      const O = 33;
      const x = uniform(r, N * K);
      const { stored, values: W } = storedWeights(uniform(r, O * K), wt);
      const want = linear(x, W, N, K, O);
      for (const [entry, groups, subgroups] of [
        ['few_rows', O, false],
        ['few_rows_serial', 1, false],
        ['few_rows', O, true],
      ] as const) {
        if (subgroups && !SUBGROUPS) continue; // a hardware GPU without subgroups (never SwiftShader: see subgroupsHere)
        const [y] = await runKernel({
          shader: 'matmul',
          entry,
          wt,
          subgroups,
          params: { N, K, O, ldy: O, yOffset: 0, hasBias: 0, accumulate: 0, scale: 1 },
          buffers: { x, W: stored, b: new Float32Array(1), y: new Float32Array(N * O) },
          workgroups: [groups, 1],
          read: ['y'],
        });
        expectClose(`matmul ${wt} ${entry}${subgroups ? ' subgroups' : ''}`, y, want, 1e-5, 1e-5);
      }
      const dy = uniform(r, N * O);
      const wantDx = new Float64Array(N * K);
      for (let n = 0; n < N; n++)
        for (let k = 0; k < K; k++) for (let o = 0; o < O; o++) wantDx[n * K + k] += dy[n * O + o] * W[o * K + k];
      for (const [entry, tile] of [
        ['main', 32],
        ['serial', 64],
      ] as const) {
        const gemm = { M: N, Nn: O, K, sAm: K, sAk: 1, sBk: 1, sBn: K, ldc: O, alpha: 1, accumulate: 0 };
        const [y] = await runKernel({
          shader: 'gemm',
          entry,
          wt,
          params: { ...gemm, aOff: 0, cOff: 0, hasBias: 0 },
          buffers: { a: x, b: stored, c: new Float32Array(N * O), bias: new Float32Array(1) },
          workgroups: [Math.ceil(O / tile), 1],
          read: ['c'],
        });
        expectClose(`gemm ${wt} ${entry}`, y, want, 1e-5, 1e-5);
        // dx = dy·W: the backward of a frozen (16-bit or quantized) base linear
        const back = { M: N, Nn: K, K: O, sAm: O, sAk: 1, sBk: K, sBn: 1, ldc: K, alpha: 1, accumulate: 0 };
        const [dx] = await runKernel({
          shader: 'gemm',
          entry,
          wt,
          params: { ...back, aOff: 0, cOff: 0, hasBias: 0 },
          buffers: { a: dy, b: stored, c: new Float32Array(N * K), bias: new Float32Array(1) },
          workgroups: [Math.ceil(K / tile), 1],
          read: ['c'],
        });
        expectClose(`gemm input grad ${wt} ${entry}`, dx, wantDx, 1e-5, 1e-5);
      }
    });
});

// Each entry with its output tile edge (the host's grid: ⌈Nn/tile⌉ × ⌈M/tile⌉).
describe.each([
  ['main', 32],
  ['serial', 64],
])('gemm (strided), entry %s: prefill linears and the three products of a linear layer', (entry, tile) => {
  const N = 19,
    K = 37,
    O = 45;
  const r = rng(40);
  const x = uniform(r, N * K),
    W = uniform(r, O * K),
    dy = uniform(r, N * O);
  const gemm = (
    M: number,
    Nn: number,
    Kk: number,
    s: number[],
    A: Float32Array,
    B: Float32Array,
    C: Float32Array,
    alpha: number,
    accumulate: number,
  ) =>
    runKernel({
      shader: 'gemm',
      entry,
      params: {
        M,
        Nn,
        K: Kk,
        sAm: s[0],
        sAk: s[1],
        sBk: s[2],
        sBn: s[3],
        ldc: Nn,
        alpha,
        accumulate,
        aOff: 0,
        cOff: 0,
        hasBias: 0,
      },
      buffers: { a: A, b: B, c: C, bias: new Float32Array(1) },
      workgroups: [Math.ceil(Nn / tile), Math.ceil(M / tile)],
      read: ['c'],
    }).then((o) => o[0]);

  it('forward y = x·Wᵀ', async () => {
    expectClose(
      'y',
      await gemm(N, O, K, [K, 1, 1, K], x, W, new Float32Array(N * O), 1, 0),
      linear(x, W, N, K, O),
      1e-5,
      1e-5,
    );
  });
  it('a prefill linear: y = scale·x·Wᵀ + b + y over 70 rows and 70 outputs (several tiles each way)', async () => {
    const M = 70,
      Kd = 17,
      Od = 70;
    const xx = uniform(r, M * Kd),
      WW = uniform(r, Od * Kd),
      bb = uniform(r, Od),
      y0 = uniform(r, M * Od);
    const [y] = await runKernel({
      shader: 'gemm',
      entry,
      params: {
        M,
        Nn: Od,
        K: Kd,
        sAm: Kd,
        sAk: 1,
        sBk: 1,
        sBn: Kd,
        ldc: Od,
        alpha: 0.75,
        accumulate: 1,
        aOff: 0,
        cOff: 0,
        hasBias: 1,
      },
      buffers: { a: xx, b: WW, c: y0, bias: bb },
      workgroups: [Math.ceil(Od / tile), Math.ceil(M / tile)],
      read: ['c'],
    });
    const ref = linear(xx, WW, M, Kd, Od);
    expectClose(
      'prefill linear',
      y,
      Array.from(ref, (v, i) => 0.75 * v + bb[i % Od] + y0[i]),
      1e-5,
      1e-5,
    );
  });
  it('input gradient dx = α·dy·W, accumulated', async () => {
    const c0 = uniform(r, N * K);
    const want = new Float64Array(N * K);
    for (let n = 0; n < N; n++)
      for (let k = 0; k < K; k++) {
        let s = 0;
        for (let o = 0; o < O; o++) s += dy[n * O + o] * W[o * K + k];
        want[n * K + k] = c0[n * K + k] + 0.5 * s;
      }
    expectClose('dx', await gemm(N, K, O, [O, 1, K, 1], dy, W, c0, 0.5, 1), want, 1e-5, 1e-5);
  });
  it('column blocks (aOff, cOff) and bias: one vocabulary chunk of an LM head and its input grad', async () => {
    const V = 50,
      off = 20,
      rows = 30,
      H = 8,
      M = 3;
    const h = uniform(r, M * H),
      E = uniform(r, rows * H),
      bias = uniform(r, rows);
    const [logits] = await runKernel({
      shader: 'gemm',
      entry,
      params: {
        M,
        Nn: rows,
        K: H,
        sAm: H,
        sAk: 1,
        sBk: 1,
        sBn: H,
        ldc: V,
        alpha: 1,
        accumulate: 0,
        aOff: 0,
        cOff: off,
        hasBias: 1,
      },
      buffers: { a: h, b: E, c: new Float32Array(M * V), bias: bias },
      workgroups: [1, 1],
      read: ['c'],
    });
    const want = new Float64Array(M * V);
    const ref = linear(h, E, M, H, rows, bias);
    for (let m = 0; m < M; m++) for (let o = 0; o < rows; o++) want[m * V + off + o] = ref[m * rows + o];
    expectClose('chunk logits', logits, want, 1e-5, 1e-6);
    const dl = uniform(r, M * V);
    const [dh] = await runKernel({
      shader: 'gemm',
      entry,
      params: {
        M,
        Nn: H,
        K: rows,
        sAm: V,
        sAk: 1,
        sBk: H,
        sBn: 1,
        ldc: H,
        alpha: 1,
        accumulate: 0,
        aOff: off,
        cOff: 0,
        hasBias: 0,
      },
      buffers: { a: dl, b: E, c: new Float32Array(M * H), bias: new Float32Array(1) },
      workgroups: [1, 1],
      read: ['c'],
    });
    const wantDh = new Float64Array(M * H);
    for (let m = 0; m < M; m++)
      for (let k = 0; k < H; k++)
        for (let o = 0; o < rows; o++) wantDh[m * H + k] += dl[m * V + off + o] * E[o * H + k];
    expectClose('chunk input grad', dh, wantDh, 1e-5, 1e-6);
  });
  it('weight gradient dW = dyᵀ·x', async () => {
    const want = new Float64Array(O * K);
    for (let o = 0; o < O; o++)
      for (let k = 0; k < K; k++) {
        let s = 0;
        for (let n = 0; n < N; n++) s += dy[n * O + o] * x[n * K + k];
        want[o * K + k] = s;
      }
    expectClose('dW', await gemm(O, K, N, [1, O, K, 1], dy, x, new Float32Array(O * K), 1, 0), want, 1e-5, 1e-5);
  });
});
