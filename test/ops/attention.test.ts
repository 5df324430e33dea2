// Causal GQA attention over the KV cache (src/ops/attention.ts): forward entries against the
// float64 reference, backward entries against finite differences.

import { describe, it } from 'vitest';
import { rng, uniform } from '../../src/rng';
import { attendOne } from '../reference/ops';
import { expectClose } from '../helpers/compare';
import { runKernel } from '../helpers/run-kernel';
import { dot, numericGrad } from '../reference/grad';

const u32 = (a: number[]) => Uint32Array.from(a);

describe('attention forward', () => {
  const nH = 4,
    nKV = 2,
    hd = 16,
    T = 12,
    S = 3;
  // Rows from different slots at different positions, as in a ragged prefill.
  const rowsMeta = [
    [0, 0],
    [0, 1],
    [0, 2],
    [2, 0],
    [2, 1],
    [1, 0],
  ];
  const attentionCase = (
    name: string,
    c: { nH: number; nKV: number; hd: number; T: number; S: number; rowsMeta: number[][]; starts?: number[] },
  ) =>
    it.each([
      ['forward', 1],
      ['forward_serial', 64],
    ] as const)(`${name} (%s)`, async (entry, rowsPerGroup) => {
      const { nH, nKV, hd, T, S, rowsMeta } = c;
      const N = rowsMeta.length;
      const starts = c.starts ?? rowsMeta.map(() => 0);
      const r = rng(7 + hd);
      const q = uniform(r, N * nH * hd, -2, 2);
      const kc = uniform(r, S * nKV * T * hd, -2, 2),
        vc = uniform(r, S * nKV * T * hd);
      const [out, att] = await runKernel({
        shader: 'attention',
        entry,
        params: { N, nH, nKV, hd, maxLen: T, scale: 1 / Math.sqrt(hd) },
        buffers: {
          rows: u32(rowsMeta.flat()),
          q: q,
          kCache: kc,
          vCache: vc,
          att: new Float32Array(N * nH * T).fill(NaN),
          out: new Float32Array(N * nH * hd),
          starts: u32(starts),
        },
        workgroups: [nH, Math.ceil(N / rowsPerGroup)],
        read: ['out', 'att'],
      });
      rowsMeta.forEach(([slot, pos], i) => {
        for (let h = 0; h < nH; h++) {
          const j = Math.floor(h / (nH / nKV));
          const at = (t: number, cache: Float32Array) =>
            cache.subarray(((slot * nKV + j) * T + t) * hd, ((slot * nKV + j) * T + t + 1) * hd);
          const ts = Array.from({ length: pos + 1 - starts[i] }, (_, t) => starts[i] + t);
          const ref = attendOne(
            q.subarray((i * nH + h) * hd, (i * nH + h + 1) * hd),
            ts.map((t) => at(t, kc)),
            ts.map((t) => at(t, vc)),
          );
          expectClose(
            `attention out row ${i} head ${h}`,
            out.subarray((i * nH + h) * hd, (i * nH + h + 1) * hd),
            ref.out,
            1e-5,
            1e-6,
          );
          // probabilities before the row's start are exactly 0 (the backward entries rely on it)
          expectClose(
            `attention probs row ${i} head ${h}`,
            att.subarray((i * nH + h) * T, (i * nH + h) * T + pos + 1),
            [...new Array(starts[i]).fill(0), ...ref.p],
            1e-5,
            1e-7,
          );
        }
      });
    });
  attentionCase('attention: causal GQA over the cache, probabilities saved', { nH, nKV, hd, T, S, rowsMeta });
  attentionCase('attention: head_dim 64, 300 cached positions (more than one per thread)', {
    nH: 6,
    nKV: 2,
    hd: 64,
    T: 300,
    S: 2,
    rowsMeta: [
      [1, 299],
      [0, 5],
      [1, 256],
      [0, 0],
    ],
  });
  attentionCase('attention: head_dim 6 (not a multiple of 4), 9 positions', {
    nH: 2,
    nKV: 1,
    hd: 6,
    T: 9,
    S: 2,
    rowsMeta: [
      [0, 8],
      [1, 3],
      [0, 4],
      [1, 0],
    ],
  });
  // Packed training rows: a row attends only from where its own conversation begins.
  attentionCase("attention: packed rows attend from their conversation's start", {
    nH,
    nKV,
    hd,
    T,
    S,
    rowsMeta: [
      [0, 3],
      [0, 4],
      [0, 11],
      [1, 7],
      [2, 2],
    ],
    starts: [3, 3, 5, 0, 1],
  });
  attentionCase('attention: packed rows, 300 positions, starts past one per thread', {
    nH: 2,
    nKV: 1,
    hd: 32,
    T: 300,
    S: 1,
    rowsMeta: [
      [0, 299],
      [0, 280],
      [0, 9],
    ],
    starts: [270, 0, 9],
  });
});

describe('attention backward', () => {
  // head_dim 6: the serial entries' four-at-a-time loops end in a tail of 2
  it.each([
    ['', 1, 8],
    ['_serial', 64, 8],
    ['', 1, 6],
    ['_serial', 64, 6],
  ] as const)(
    'attention backward: dq, dK, dV (GQA, causal, a padded sequence and a packed one) (entries%s, %i rows a workgroup, head_dim %i)',
    async (suffix, rowsPerGroup, hd) => {
      const r = rng(44);
      const nH = 4,
        nKV = 2,
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
        entry: `backward_kv${suffix}`,
        params: { N, nH, nKV, hd, maxLen: T, scale },
        buffers: {
          q: q,
          att: att,
          dOut: dO,
          dSr: dS,
          dKc: new Float32Array(S * nKV * T * hd),
          dVc: new Float32Array(S * nKV * T * hd),
        },
        workgroups: [suffix ? Math.ceil((T * Math.ceil(hd / 4)) / 64) : T, nKV, S],
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
});
