// RoPE and the KV-cache write (src/ops/rope-kv.ts): forward against the float64 reference,
// backward against finite differences.

import { describe, it } from 'vitest';
import { rng, uniform } from '../../src/rng';
import { ropeTable } from '../../src/engine/rope';
import { rope } from '../reference/ops';
import { expectClose } from '../helpers/compare';
import { runKernel } from '../helpers/run-kernel';
import { dot, numericGrad } from '../reference/grad';

const u32 = (a: number[]) => Uint32Array.from(a);

describe('attention path', () => {
  const nH = 4,
    nKV = 2,
    hd = 16,
    T = 12,
    S = 3,
    theta = 10000;
  // Rows from different slots at different positions, as in a ragged prefill.
  const rowsMeta = [
    [0, 0],
    [0, 1],
    [0, 2],
    [2, 0],
    [2, 1],
    [1, 0],
  ];
  const N = rowsMeta.length;

  it('rope_kv: rotates q in place and writes rotated k and v into the caches', async () => {
    const r = rng(6);
    const q = uniform(r, N * nH * hd),
      k = uniform(r, N * nKV * hd),
      v = uniform(r, N * nKV * hd);
    const cache = S * nKV * T * hd;
    const [qOut, kc, vc] = await runKernel({
      shader: 'ropeKv',
      entry: 'forward',
      params: { N, nH, nKV, hd, maxLen: T },
      buffers: {
        rows: u32(rowsMeta.flat()),
        cs: ropeTable(T, hd, theta),
        q: q,
        k: k,
        v: v,
        kCache: new Float32Array(cache),
        vCache: new Float32Array(cache),
      },
      workgroups: [Math.ceil(((nH + nKV) * hd) / 2 / 64), N],
      read: ['q', 'kCache', 'vCache'],
    });
    const wantQ = new Float64Array(N * nH * hd),
      wantK = new Float64Array(cache),
      wantV = new Float64Array(cache);
    rowsMeta.forEach(([slot, pos], i) => {
      for (let h = 0; h < nH; h++)
        wantQ.set(rope(q.subarray((i * nH + h) * hd, (i * nH + h + 1) * hd), pos, theta), (i * nH + h) * hd);
      for (let j = 0; j < nKV; j++) {
        const dst = ((slot * nKV + j) * T + pos) * hd;
        wantK.set(rope(k.subarray((i * nKV + j) * hd, (i * nKV + j + 1) * hd), pos, theta), dst);
        wantV.set(v.subarray((i * nKV + j) * hd, (i * nKV + j + 1) * hd), dst);
      }
    });
    expectClose('q rotated', qOut, wantQ, 1e-5, 1e-6);
    expectClose('k cache', kc, wantK, 1e-5, 1e-6);
    expectClose('v cache', vc, wantV, 0, 0);
  });
});

describe('rope_kv backward', () => {
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
});
