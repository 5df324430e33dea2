// Quantization at load (src/model/quant.ts): the packed layout by hand, the round trip's error
// bound, and the sizes the GPU allocates.

import { describe, expect, it } from 'vitest';
import { f16ToF32, f32ToF16 } from '../src/model/dtype';
import { dequantize, GROUP, QUANT, quantBytesPerWeight, quantize, quantWords } from '../src/model/quant';
import { rng, uniform } from '../src/rng';

describe('q8 / q4 quantization', () => {
  it('packs by hand: scales in word 0 of each block of two groups, values little-endian', () => {
    const x = new Float32Array(64);
    x[0] = 1.27; // group 0: absmax 1.27 → scale 0.01 (as f16)
    x[1] = -0.5;
    x[32] = -2; // group 1: absmax 2
    const q8 = quantize(x, 'q8');
    expect(q8.length).toBe(17);
    const s0 = f16ToF32(f32ToF16(1.27 / 127));
    const s1 = f16ToF32(f32ToF16(2 / 127));
    expect(q8[0] & 0xffff).toBe(f32ToF16(1.27 / 127));
    expect(q8[0] >>> 16).toBe(f32ToF16(2 / 127));
    expect(q8[1] & 0xff).toBe(Math.round(1.27 / s0) & 0xff); // element 0: byte 0 of word 1
    expect((q8[1] >>> 8) & 0xff).toBe(Math.round(-0.5 / s0) & 0xff); // element 1: byte 1
    expect(q8[1 + 8] & 0xff).toBe(-127 & 0xff); // element 32: first byte of group 1 (word 9)
    expect(dequantize(q8, 64, 'q8')[32]).toBe(-127 * s1);
    const q4 = quantize(x, 'q4');
    expect(q4.length).toBe(9);
    expect(q4[1] & 0xf).toBe(7); // 1.27 / (1.27 / 7) = 7
    expect((q4[1] >>> 4) & 0xf).toBe(Math.round(-0.5 / f16ToF32(f32ToF16(1.27 / 7))) & 0xf);
    expect(q4[1 + 4] & 0xf).toBe(-7 & 0xf); // element 32: word 5
  });

  for (const t of ['q8', 'q4'] as const)
    it(`${t}: the round trip is within half a step of each group's scale, exact on the grid`, () => {
      const r = rng(3);
      const n = 1000; // not a multiple of 64: the last block is partly padding
      const x = uniform(r, n, -3, 3);
      x.fill(0, 64, 96); // an all-zero group
      const words = quantize(x, t);
      expect(words.length).toBe(quantWords(n, t));
      const y = dequantize(words, n, t);
      for (let g = 0; g * GROUP < n; g++) {
        const part = x.subarray(g * GROUP, Math.min(n, (g + 1) * GROUP));
        const scale = f16ToF32(f32ToF16(part.reduce((a, v) => Math.max(a, Math.abs(v)), 0) / QUANT[t].qmax));
        for (let i = 0; i < part.length; i++) {
          const err = Math.abs(y[g * GROUP + i] - part[i]);
          // half a step, plus the f16 scale's own rounding at the group's extremes
          expect(err).toBeLessThanOrEqual(scale / 2 + Math.abs(part[i]) * 2 ** -10);
        }
      }
      expect(Array.from(y.subarray(64, 96)).every((v) => v === 0)).toBe(true);
      // values already on the grid come back unchanged
      expect(Array.from(dequantize(quantize(y, t), n, t))).toEqual(Array.from(y));
    });

  it('bytes per weight with the scales: q8 1.0625, q4 0.5625', () => {
    expect(quantBytesPerWeight('q8')).toBe(1.0625);
    expect(quantBytesPerWeight('q4')).toBe(0.5625);
    expect(quantWords(64, 'q4') * 4).toBe(64 * 0.5625);
  });
});
