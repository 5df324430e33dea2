// Conversions between the checkpoint dtypes (F32, F16, BF16; little-endian) and what the GPU stores.

import type { Dtype } from './safetensors';
import { SafetensorsError } from '../errors';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Round-to-nearest-even f32 → f16 bits; values beyond ±65504 saturate to ±65504. */
export function f32ToF16(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | (mant ? 0x7e00 : 0x7bff); // NaN stays NaN; ±Inf saturates
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7bff;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  if ((half & 0x7fff) >= 0x7c00) return sign | 0x7bff;
  return sign | half;
}

/** Decodes raw little-endian tensor bytes to f32. */
export function toF32(bytes: Uint8Array, dtype: Dtype, what: string): Float32Array {
  const n = bytes.byteLength;
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  switch (dtype) {
    case 'F32':
      return new Float32Array(aligned.buffer, aligned.byteOffset, n / 4).slice();
    case 'F16': {
      const src = new Uint16Array(aligned.buffer, aligned.byteOffset, n / 2);
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = f16ToF32(src[i]);
      return out;
    }
    case 'BF16': {
      const src = new Uint16Array(aligned.buffer, aligned.byteOffset, n / 2);
      const out = new Float32Array(src.length);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
      return out;
    }
    default:
      throw new SafetensorsError(
        `${what}: dtype ${dtype} is not a floating-point weight type`,
        'Model weights must be F32, F16 or BF16.',
      );
  }
}

export function bf16ToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}

/** Round-to-nearest-even f32 → bf16 bits (a bf16 value widened to f32 comes back unchanged). */
export function f32ToBf16(v: number): number {
  f32[0] = v;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40; // NaN stays NaN
  return (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

/** f32 values → bf16 bit patterns. */
export function toBf16Bits(v: Float32Array): Uint16Array {
  const out = new Uint16Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = f32ToBf16(v[i]);
  return out;
}

/** f32 values → f16 bit patterns. */
export function toF16Bits(v: Float32Array): Uint16Array {
  const out = new Uint16Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = f32ToF16(v[i]);
  return out;
}
