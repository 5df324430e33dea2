// Weights as the GPU stores them for each weight type, with the values the shaders compute with
// (the float64 references use those: 16-bit rounding and quantization are the storage's, the
// kernels' only own error is f32 accumulation).

import type { WeightType } from '../../src/gpu/shaders';
import { bf16ToF32, f16ToF32, toBf16Bits, toF16Bits } from '../../src/model/dtype';
import { dequantize, type QuantType, quantize } from '../../src/model/quant';
import type { RefWeights } from '../reference/llama';

export function storedWeights(
  w: Float32Array,
  wt: WeightType,
): { stored: Float32Array | Uint16Array | Uint32Array; values: Float32Array } {
  switch (wt) {
    case 'f32':
      return { stored: w, values: w };
    case 'bf16': {
      const bits = toBf16Bits(w);
      return { stored: bits, values: Float32Array.from(bits, bf16ToF32) };
    }
    case 'f16': {
      const bits = toF16Bits(w);
      return { stored: bits, values: Float32Array.from(bits, f16ToF32) };
    }
    default: {
      const words = quantize(w, wt);
      return { stored: words, values: dequantize(words, w.length, wt) };
    }
  }
}

/** Reference weights as the GPU stores them quantized: linear and embedding tensors through quantize → dequantize
 *  (norms, biases and a reward model's score head stay f32). */
export function refAsQuantized(w: RefWeights, t: QuantType): RefWeights {
  const kept = /norm|bias|^score\./;
  return {
    ...w,
    get: (name: string) =>
      kept.test(name) ? w.get(name) : Float64Array.from(storedWeights(Float32Array.from(w.get(name)), t).values),
  };
}
