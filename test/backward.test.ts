// Training kernels: the strided gemm against the float64 reference, and every backward kernel
// against central finite differences of the float64 forward (loss = Σ upstream ⊙ output).

import { describe, expect, it } from 'vitest';
import { rng, uniform } from '../src/rng';
import { ropeTable } from '../src/engine/rope';
import { attendOne, linear, logSoftmax, rmsnorm, rope, silu } from './reference/ops';
import { dot, numericGrad } from './reference/grad';
import { expectClose } from './helpers/compare';
import { runKernel } from './helpers/run-kernel';

const u32 = (a: number[]) => Uint32Array.from(a);

describe.each(['main', 'serial'])(
  'gemm (strided), entry %s: prefill linears and the three products of a linear layer',
  (entry) => {
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
        workgroups: [Math.ceil(Nn / 32), Math.ceil(M / 32)],
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
    it('a prefill linear: y = scale·x·Wᵀ + b + y over 70 rows (three row tiles)', async () => {
      const M = 70,
        Kd = 17,
        Od = 33;
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
        workgroups: [2, 3],
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
  },
);

describe('backward kernels vs finite differences', () => {
  it('rmsnorm backward (accumulating into dx)', async () => {
    const r = rng(41);
    const N = 3,
      H = 24,
      eps = 1e-5;
    const x = uniform(r, N * H, -2, 2),
      w = uniform(r, H, 0.5, 1.5),
      dy = uniform(r, N * H),
      dx0 = uniform(r, N * H);
    const [, rstd] = await runKernel({
      shader: 'rmsnorm',
      entry: 'forward',
      params: { N, H, eps, saveRstd: 1 },
      buffers: { x: x, w: w, y: new Float32Array(N * H), rstd: new Float32Array(N) },
      workgroups: [N],
      read: ['y', 'rstd'],
    });
    const [dx] = await runKernel({
      shader: 'rmsnorm',
      entry: 'backward',
      params: { N, H, accumulate: 1 },
      buffers: { bx: x, bw: w, bdy: dy, brstd: rstd, bdx: dx0 },
      workgroups: [N],
      read: ['bdx'],
    });
    const g = numericGrad((xx) => dot(dy, rmsnorm(xx, w, N, H, eps)), x);
    expectClose(
      'drmsnorm',
      dx,
      g.map((v, i) => v + dx0[i]),
      1e-4,
      1e-5,
    );
  });

  it('swiglu backward', async () => {
    const r = rng(42);
    const n = 40;
    const gate = uniform(r, n, -5, 5),
      up = uniform(r, n, -2, 2),
      dAct = uniform(r, n);
    const [dGate, dUp] = await runKernel({
      shader: 'swiglu',
      entry: 'backward',
      params: { n },
      buffers: { bgate: gate, bup: up, dAct: dAct, dGate: new Float32Array(n), dUp: new Float32Array(n) },
      workgroups: [1],
      read: ['dGate', 'dUp'],
    });
    const f = (gg: Float64Array, uu: ArrayLike<number>) =>
      dot(
        dAct,
        Array.from(gg, (z, i) => silu(z) * uu[i]),
      );
    expectClose(
      'dGate',
      dGate,
      numericGrad((gg) => f(gg, up), gate),
      1e-4,
      1e-5,
    );
    expectClose(
      'dUp',
      dUp,
      numericGrad((uu) => f(Float64Array.from(gate), uu), up),
      1e-4,
      1e-5,
    );
  });

  it('rope backward: q in place, k/v gathered from cache-layout gradients', async () => {
    const r = rng(43);
    const nH = 2,
      nKV = 1,
      hd = 8,
      T = 4,
      S = 2,
      theta = 10000;
    const rowsMeta = [0, 1, 2, 3]
      .flatMap((p) => [[0, p]])
      .concat([
        [1, 0],
        [1, 1],
        [1, 2],
        [1, 3],
      ]);
    const N = rowsMeta.length;
    const dq = uniform(r, N * nH * hd),
      dKc = uniform(r, S * nKV * T * hd),
      dVc = uniform(r, S * nKV * T * hd);
    const [dqPre, dk, dv] = await runKernel({
      shader: 'ropeKv',
      entry: 'backward',
      params: { N, nH, nKV, hd, maxLen: T },
      buffers: {
        rows: u32(rowsMeta.flat()),
        cs: ropeTable(T, hd, theta),
        dq: dq,
        dk: new Float32Array(N * nKV * hd),
        dv: new Float32Array(N * nKV * hd),
        dKc: dKc,
        dVc: dVc,
      },
      workgroups: [Math.ceil(((nH + nKV) * hd) / 2 / 64), N],
      read: ['dq', 'dk', 'dv'],
    });
    rowsMeta.forEach(([slot, pos], i) => {
      for (let h = 0; h < nH; h++) {
        const up = dq.subarray((i * nH + h) * hd, (i * nH + h + 1) * hd);
        const x0 = uniform(r, hd);
        expectClose(
          `dq row ${i} head ${h}`,
          dqPre.subarray((i * nH + h) * hd, (i * nH + h + 1) * hd),
          numericGrad((v) => dot(up, rope(v, pos, theta)), x0),
          1e-4,
          1e-6,
        );
      }
      const src = (slot * T + pos) * hd;
      const upK = dKc.subarray(src, src + hd);
      expectClose(
        `dk row ${i}`,
        dk.subarray(i * hd, (i + 1) * hd),
        numericGrad((v) => dot(upK, rope(v, pos, theta)), uniform(r, hd)),
        1e-4,
        1e-6,
      );
      expectClose(`dv row ${i}`, dv.subarray(i * hd, (i + 1) * hd), dVc.subarray(src, src + hd), 0, 0);
    });
  });

  it.each([
    ['', 1],
    ['_serial', 64],
  ] as const)(
    'attention backward: dq, dK, dV (GQA, causal, a padded sequence and a packed one) (entries%s)',
    async (suffix, rowsPerGroup) => {
      const r = rng(44);
      const nH = 4,
        nKV = 2,
        hd = 8,
        T = 5,
        S = 2,
        rep = nH / nKV,
        scale = 1 / Math.sqrt(hd);
      const rowsMeta = [0, 1].flatMap((s) => [0, 1, 2, 3, 4].map((p) => [s, p]));
      const starts = [0, 0, 0, 0, 0, 0, 0, 2, 2, 2]; // sequence 1 packs two conversations: [0, 2) and [2, 5)
      const N = rowsMeta.length;
      const q = uniform(r, N * nH * hd),
        kc = uniform(r, S * nKV * T * hd),
        vc = uniform(r, S * nKV * T * hd),
        dO = uniform(r, N * nH * hd);
      const meta = u32(rowsMeta.flat());
      const [, att] = await runKernel({
        shader: 'attention',
        entry: `forward${suffix}`,
        params: { N, nH, nKV, hd, maxLen: T, scale },
        buffers: {
          rows: meta,
          q: q,
          kCache: kc,
          vCache: vc,
          att: new Float32Array(N * nH * T),
          out: new Float32Array(N * nH * hd),
          starts: u32(starts),
        },
        workgroups: [nH, Math.ceil(N / rowsPerGroup)],
        read: ['out', 'att'],
      });
      const [dq, dS] = await runKernel({
        shader: 'attention',
        entry: `backward_q${suffix}`,
        params: { N, nH, nKV, hd, maxLen: T, scale },
        buffers: {
          rows: meta,

          kCache: kc,
          vCache: vc,
          att: att,
          dOut: dO,
          dS: new Float32Array(N * nH * T),
          dq: new Float32Array(N * nH * hd),
        },
        workgroups: [nH, Math.ceil(N / rowsPerGroup)],
        read: ['dq', 'dS'],
      });
      const [dK, dV] = await runKernel({
        shader: 'attention',
        entry: 'backward_kv',
        params: { N, nH, nKV, hd, maxLen: T, scale },
        buffers: {
          q: q,
          att: att,
          dOut: dO,
          dSr: dS,
          dKc: new Float32Array(S * nKV * T * hd),
          dVc: new Float32Array(S * nKV * T * hd),
        },
        workgroups: [T, nKV, S],
        read: ['dKc', 'dVc'],
      });
      // loss(q, k, v) = Σ_rows,heads dO · attention(q, k, v)
      const loss = (qq: ArrayLike<number>, kk: ArrayLike<number>, vv: ArrayLike<number>) => {
        let s = 0;
        rowsMeta.forEach(([slot, pos], i) => {
          for (let h = 0; h < nH; h++) {
            const j = Math.floor(h / rep);
            const at = (t: number, c: ArrayLike<number>) =>
              Array.from({ length: hd }, (_, d) => c[((slot * nKV + j) * T + t) * hd + d]);
            const ts = Array.from({ length: pos + 1 - starts[i] }, (_, t) => starts[i] + t);
            const out = attendOne(
              Array.from({ length: hd }, (_, d) => qq[(i * nH + h) * hd + d]),
              ts.map((t) => at(t, kk)),
              ts.map((t) => at(t, vv)),
            ).out;
            s += dot(out, dO.subarray((i * nH + h) * hd, (i * nH + h + 1) * hd));
          }
        });
        return s;
      };
      expectClose(
        'dq',
        dq,
        numericGrad((x) => loss(x, kc, vc), q),
        1e-4,
        1e-5,
      );
      expectClose(
        'dK',
        dK,
        numericGrad((x) => loss(q, x, vc), kc),
        1e-4,
        1e-5,
      );
      expectClose(
        'dV',
        dV,
        numericGrad((x) => loss(q, kc, x), vc),
        1e-4,
        1e-5,
      );
    },
  );

  it('log-probabilities of targets, masked rows, and their gradient', async () => {
    const r = rng(45);
    const N = 4,
      V = 300;
    const logits = uniform(r, N * V, -6, 6);
    const target = u32([5, 0xffffffff, 299, 17]);
    const coef = Float32Array.from([0.7, 0, -1.3, 2]);
    const [lse, logp] = await runKernel({
      shader: 'logprob',
      entry: 'forward',
      params: { N, V },
      buffers: { logits: logits, target_: target, lse: new Float32Array(N), logp: new Float32Array(N) },
      workgroups: [N],
      read: ['lse', 'logp'],
    });
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

  it('AdamW step and the squared-norm reduction', async () => {
    const r = rng(46);
    const n = 1000;
    const th = uniform(r, n),
      g = uniform(r, n),
      m0 = uniform(r, n, -0.1, 0.1),
      v0 = uniform(r, n, 0, 0.1);
    const P = {
      n,
      lr: 1e-2,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0.01,
      bc1: 1 - 0.9 ** 3,
      bc2: 1 - 0.999 ** 3,
      gradScale: 0.5,
    };
    const [th1, m1, v1] = await runKernel({
      shader: 'adamw',
      entry: 'step',
      params: P,
      buffers: { params: th, grads: g, m: m0, v: v0 },
      workgroups: [Math.ceil(n / 256)],
      read: ['params', 'm', 'v'],
    });
    const wm = Array.from(g, (gi, i) => 0.9 * m0[i] + 0.1 * gi * 0.5);
    const wv = Array.from(g, (gi, i) => 0.999 * v0[i] + 0.001 * (gi * 0.5) ** 2);
    expectClose('m', m1, wm, 1e-6, 1e-7);
    expectClose('v', v1, wv, 1e-5, 1e-9);
    expectClose(
      'theta',
      th1,
      Array.from(
        th,
        (t, i) => t - (P.lr * (wm[i] / P.bc1)) / (Math.sqrt(wv[i] / P.bc2) + P.eps) - P.lr * P.weightDecay * t,
      ),
      1e-5,
      1e-7,
    );
    const [part] = await runKernel({
      shader: 'adamw',
      entry: 'sumsq',
      params: P,
      buffers: { grads: g, partial: new Float32Array(3) },
      workgroups: [3],
      read: ['partial'],
    });
    expectClose('Σg²', [part.reduce((a, b) => a + b, 0)], [dot(g, g)], 1e-5, 0);
  });
});
