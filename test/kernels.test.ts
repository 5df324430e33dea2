// Every forward kernel against the float64 reference on seeded random inputs.

import { describe, expect, it } from 'vitest';
import { rng, uniform } from '../src/rng';
import { toF16Bits } from '../src/model/dtype';
import { ropeTable } from '../src/engine/rope';
import { attendOne, linear, rmsnorm, rope, silu } from './reference/ops';
import { refSample } from './reference/sample';
import { expectClose } from './helpers/compare';
import { runKernel } from './helpers/run-kernel';
import { testGpu } from './helpers/gpu';

const u32 = (a: number[]) => Uint32Array.from(a);

describe('matmul: y = scale·x·Wᵀ + b (+ y)', () => {
  const cases = [
    { N: 1, K: 64, O: 48, entry: 'few_rows' },
    { N: 5, K: 37, O: 70, entry: 'few_rows' },
    { N: 16, K: 200, O: 9, entry: 'few_rows' },
    { N: 1, K: 64, O: 48, entry: 'few_rows_serial' },
    { N: 11, K: 37, O: 130, entry: 'few_rows_serial' },
  ];
  for (const { N, K, O, entry } of cases) {
    const workgroups: [number, number] = entry === 'few_rows' ? [O, 1] : [Math.ceil(O / 64), 1];
    it(`${entry}: N=${N} K=${K} O=${O}, bias and accumulate`, async () => {
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
  it('f16 weights (shader-f16)', async (ctx) => {
    if (!(await testGpu()).hasF16) ctx.skip();
    const r = rng(9);
    const N = 3,
      K = 40,
      O = 33;
    const x = uniform(r, N * K),
      W = uniform(r, O * K);
    const Wh = toF16Bits(W);
    for (const [entry, groups] of [
      ['few_rows', O],
      ['few_rows_serial', 1],
    ] as const) {
      const [y] = await runKernel({
        shader: 'matmul',
        entry,
        wt: 'f16',
        params: { N, K, O, ldy: O, yOffset: 0, hasBias: 0, accumulate: 0, scale: 1 },
        buffers: { x: x, W: Wh, b: new Float32Array(1), y: new Float32Array(N * O) },
        workgroups: [groups, 1],
        read: ['y'],
      });
      expectClose(`matmul f16 ${entry}`, y, linear(x, W, N, K, O), 2e-3, 2e-3);
    }
  });
});

describe('elementwise and normalisation kernels', () => {
  it('rmsnorm forward (and saved rstd)', async () => {
    const r = rng(2);
    const N = 7,
      H = 300,
      eps = 1e-5;
    const x = uniform(r, N * H, -3, 3),
      w = uniform(r, H, 0.5, 1.5);
    const [y, rstd] = await runKernel({
      shader: 'rmsnorm',
      entry: 'forward',
      params: { N, H, eps, saveRstd: 1 },
      buffers: { x: x, w: w, y: new Float32Array(N * H), rstd: new Float32Array(N) },
      workgroups: [N],
      read: ['y', 'rstd'],
    });
    expectClose('rmsnorm', y, rmsnorm(x, w, N, H, eps), 1e-5, 1e-6);
    const want = Array.from(
      { length: N },
      (_, i) => 1 / Math.sqrt(x.subarray(i * H, (i + 1) * H).reduce((a, v) => a + v * v, 0) / H + eps),
    );
    expectClose('rstd', rstd, want, 1e-5, 0);
  });

  it('swiglu forward', async () => {
    const r = rng(3);
    const n = 1000;
    const g = uniform(r, n, -8, 8),
      up = uniform(r, n, -2, 2);
    const [a] = await runKernel({
      shader: 'swiglu',
      entry: 'forward',
      params: { n },
      buffers: { gate: g, up: up, act: new Float32Array(n) },
      workgroups: [Math.ceil(n / 256)],
      read: ['act'],
    });
    expectClose(
      'swiglu',
      a,
      Array.from(g, (z, i) => silu(z) * up[i]),
      1e-5,
      1e-6,
    );
  });

  it('embedding gather from one row chunk', async () => {
    const r = rng(4);
    const H = 20,
      rowStart = 8,
      chunkRows = 10;
    const E = uniform(r, chunkRows * H);
    const ids = u32([8, 3, 17, 12, 18]); // 3 and 18 are outside the chunk: left untouched
    const x0 = new Float32Array(ids.length * H).fill(7);
    const [x] = await runKernel({
      shader: 'embedding',
      params: { N: ids.length, H, rowStart, chunkRows },
      buffers: { ids: ids, E: E, x: x0 },
      workgroups: [1, ids.length],
      read: ['x'],
    });
    const want = new Float64Array(ids.length * H).fill(7);
    ids.forEach((id, i) => {
      if (id >= rowStart && id < rowStart + chunkRows)
        want.set(E.subarray((id - rowStart) * H, (id - rowStart + 1) * H), i * H);
    });
    expectClose('embedding', x, want, 0, 0);
  });

  it('gather_rows', async () => {
    const r = rng(5);
    const N = 6,
      H = 70;
    const x = uniform(r, N * H);
    const idx = u32([5, 0, 3]);
    const [out] = await runKernel({
      shader: 'gatherRows',
      params: { B: 3, H },
      buffers: { idx: idx, x: x, out: new Float32Array(3 * H) },
      workgroups: [2, 3],
      read: ['out'],
    });
    expectClose(
      'gather',
      out,
      [...idx].flatMap((i) => Array.from(x.subarray(i * H, (i + 1) * H))),
      0,
      0,
    );
  });
});

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

describe('sampling kernel', () => {
  async function sample(
    logits: Float32Array,
    V: number,
    seqs: { seed: number; step: number; temperature: number; topP: number }[],
  ) {
    const B = seqs.length;
    const sp = new DataView(new ArrayBuffer(16 * B));
    seqs.forEach((s, b) => {
      sp.setUint32(16 * b, s.seed, true);
      sp.setUint32(16 * b + 4, s.step, true);
      sp.setFloat32(16 * b + 8, s.temperature, true);
      sp.setFloat32(16 * b + 12, s.topP, true);
    });
    const [tok] = await runKernel({
      shader: 'sample',
      params: { B, V },
      buffers: { logits: logits, seqs: new Float32Array(sp.buffer), tokens: new Uint32Array(B) },
      workgroups: [B],
      read: ['tokens'],
    });
    return Array.from(new Uint32Array(tok.buffer));
  }

  it('greedy = argmax with lowest-index ties; temperature/top-p match the reference draw', async () => {
    const r = rng(8);
    const V = 1000,
      B = 64;
    const logits = uniform(r, B * V, -4, 4);
    logits[4 * V + 10] = logits[4 * V + 20] = 9; // a tie in a greedy row: index 10 wins
    const configs = Array.from({ length: B }, (_, b) => ({
      seed: 1000 + b,
      step: b * 7,
      temperature: [0, 0.7, 1, 1.3][b % 4],
      topP: [1, 0.95, 0.5, 0.9][(b >> 2) % 4],
    }));
    const got = await sample(logits, V, configs);
    expect(configs[4].temperature).toBe(0);
    expect(got[4]).toBe(10);
    const want = configs.map((c, b) =>
      refSample(logits.subarray(b * V, (b + 1) * V), c.seed, c.step, c.temperature, c.topP),
    );
    const agree = got.filter((t, b) => t === want[b]).length;
    expect(agree, `got ${got} want ${want}`).toBeGreaterThanOrEqual(B - 1); // float32 vs float64 may split one boundary case
    configs.forEach((c, b) => {
      if (c.temperature === 0) expect(got[b]).toBe(want[b]);
    });
  });

  it('empirical frequencies follow softmax(l/T) restricted to the nucleus', async () => {
    const V = 6,
      B = 2000;
    const l = [2, 1, 0.5, 0, -1, -3];
    const logits = new Float32Array(B * V);
    for (let b = 0; b < B; b++) logits.set(l, b * V);
    for (const [T, topP] of [
      [1, 1],
      [0.8, 0.8],
    ] as const) {
      const got = await sample(
        logits,
        V,
        Array.from({ length: B }, (_, b) => ({ seed: 77, step: b, temperature: T, topP })),
      );
      const p = l.map((x) => Math.exp(x / T));
      // nucleus for topP < 1: the most likely tokens until their mass reaches topP
      const order = [...p.keys()].sort((a, b) => p[b] - p[a]);
      const keep = new Set<number>();
      let mass = 0;
      const total = p.reduce((a, b) => a + b);
      for (const i of order) {
        keep.add(i);
        mass += p[i];
        if (mass >= topP * total) break;
      }
      const z = [...keep].reduce((a, i) => a + p[i], 0);
      for (let i = 0; i < V; i++) {
        const freq = got.filter((t) => t === i).length / B;
        const want = keep.has(i) ? p[i] / z : 0;
        expect(Math.abs(freq - want), `token ${i} at T=${T} top-p=${topP}: ${freq} vs ${want}`).toBeLessThan(
          4 * Math.sqrt((want * (1 - want)) / B) + 1e-9,
        );
      }
    }
  });
});
