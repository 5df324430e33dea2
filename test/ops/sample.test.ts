// The end of an inference pass (src/ops/sample.ts): gather_rows, and sampling against the
// float64 reference draw.

import { describe, expect, it } from 'vitest';
import { rng, uniform } from '../../src/rng';
import { refSample } from '../reference/sample';
import { expectClose } from '../helpers/compare';
import { runKernel } from '../helpers/run-kernel';

const u32 = (a: number[]) => Uint32Array.from(a);

describe('gather_rows', () => {
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
