// Weight quantization at load (a frozen base for sampling, judging and QLoRA training):
//   q8: int8 values,  one f16 scale per group of 32 (absmax / 127), 1.0625 bytes a weight
//   q4: 4-bit values, one f16 scale per group of 32 (absmax / 7, symmetric), 0.5625 bytes a weight
// Groups run over the tensor's flat [rows, cols] elements, 32 consecutive ones each (a group
// may span two rows when cols is not a multiple of 32). Two groups share one block of u32 words:
//   word 0             the two groups' f16 scales (low half: the even group)
//   words 1 … 16 (q8)  64 int8 values, 4 per word, element e in bits 8·(e mod 4) …
//   words 1 … 8  (q4)  64 4-bit values, 8 per word, element e in bits 4·(e mod 8) …
// so element i is found without knowing the tensor's shape (the shaders' quantized reads in
// gpu/shaders.ts follow the same layout). value = signed integer · scale; all arithmetic f32.

import { f16ToF32, f32ToF16 } from './dtype';

export type QuantType = 'q8' | 'q4';

export interface QuantFormat {
  bits: number;
  /** Largest magnitude of a quantized value (the scale is absmax / qmax). */
  qmax: number;
  /** Values per u32 word. */
  perWord: number;
  /** Words per block of two groups (64 values). */
  blockWords: number;
}

export const QUANT: Record<QuantType, QuantFormat> = {
  q8: { bits: 8, qmax: 127, perWord: 4, blockWords: 17 },
  q4: { bits: 4, qmax: 7, perWord: 8, blockWords: 9 },
};

export const GROUP = 32;

/** u32 words that hold n quantized values. */
export function quantWords(n: number, t: QuantType): number {
  return Math.ceil(n / (2 * GROUP)) * QUANT[t].blockWords;
}

/** Bytes per weight as stored (the scales included). */
export function quantBytesPerWeight(t: QuantType): number {
  return (4 * QUANT[t].blockWords) / (2 * GROUP);
}

/** Quantizes x (any length; the last group is padded with zeros) to the packed words. */
export function quantize(x: Float32Array, t: QuantType): Uint32Array {
  const { bits, qmax, perWord, blockWords } = QUANT[t];
  const mask = (1 << bits) - 1;
  const out = new Uint32Array(quantWords(x.length, t));
  const groups = Math.ceil(x.length / GROUP);
  for (let g = 0; g < groups; g++) {
    const start = g * GROUP;
    const end = Math.min(start + GROUP, x.length);
    let absmax = 0;
    for (let i = start; i < end; i++) absmax = Math.max(absmax, Math.abs(x[i]));
    const scaleBits = f32ToF16(absmax / qmax);
    const scale = f16ToF32(scaleBits); // the values are rounded against the stored scale
    const block = (g >> 1) * blockWords;
    out[block] |= scaleBits << (16 * (g & 1));
    for (let i = start; i < end; i++) {
      const q = scale > 0 ? Math.max(-qmax, Math.min(qmax, Math.round(x[i] / scale))) : 0;
      const e = i % (2 * GROUP);
      const w = block + 1 + Math.floor(e / perWord);
      out[w] = (out[w] | ((q & mask) << (bits * (e % perWord)))) >>> 0;
    }
  }
  return out;
}

/** The n values the packed words stand for (what the shaders compute with). */
export function dequantize(words: Uint32Array, n: number, t: QuantType): Float32Array {
  const { bits, perWord, blockWords } = QUANT[t];
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const block = Math.floor(i / (2 * GROUP)) * blockWords;
    const scale = f16ToF32((words[block] >>> (16 * (Math.floor(i / GROUP) & 1))) & 0xffff);
    const e = i % (2 * GROUP);
    const raw = words[block + 1 + Math.floor(e / perWord)] >>> (bits * (e % perWord));
    const q = ((raw & ((1 << bits) - 1)) << (32 - bits)) >> (32 - bits); // sign-extend
    out[i] = q * scale;
  }
  return out;
}
