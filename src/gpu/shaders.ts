// The WGSL sources, imported as strings (Vite `?raw`), and the weight-storage specialisation:
// a shader that reads weights declares them f32 (`alias WT = f32;` and an unpack function); for
// 16-bit weights those lines become u32 words holding two bf16 or f16 values each.

import embedding from '../../shaders/embedding.wgsl?raw';
import rmsnorm from '../../shaders/rmsnorm.wgsl?raw';
import matmul from '../../shaders/matmul.wgsl?raw';
import ropeKv from '../../shaders/rope_kv.wgsl?raw';
import attention from '../../shaders/attention.wgsl?raw';
import swiglu from '../../shaders/swiglu.wgsl?raw';
import gatherRows from '../../shaders/gather_rows.wgsl?raw';
import sample from '../../shaders/sample.wgsl?raw';
import gemm from '../../shaders/gemm.wgsl?raw';
import logprob from '../../shaders/logprob.wgsl?raw';
import adamw from '../../shaders/adamw.wgsl?raw';
import normLinear from '../../shaders/norm_linear.wgsl?raw';

export const SHADERS = {
  embedding,
  rmsnorm,
  matmul,
  normLinear,
  ropeKv,
  attention,
  swiglu,
  gatherRows,
  sample,
  gemm,
  logprob,
  adamw,
};
export type ShaderName = keyof typeof SHADERS;
/** How weights are stored on the GPU: f32, or 16-bit values packed two per u32 (any adapter). */
export type WeightType = 'f32' | 'bf16' | 'f16';

/** The weight-storage lines of a shader that reads weights, as written for f32 (see matmul.wgsl). */
const F32_STORAGE = /alias WT = f32;\nconst PACK: u32 = 1u;[^\n]*\nfn unpackWT\(v: WT, i: u32\) -> f32 \{ return v; \}/;

/** The same lines for packed 16-bit weights: element i is the low (even i) or high half of word i/2. */
const PACKED: Record<Exclude<WeightType, 'f32'>, string> = {
  // bf16 → f32 is the 16 bits moved to the top of the word
  bf16: 'fn unpackWT(v: WT, i: u32) -> f32 { return bitcast<f32>(select(v << 16u, v & 0xffff0000u, (i & 1u) == 1u)); }',
  // f16 through the core unpack2x16float: no shader-f16 needed
  f16: 'fn unpackWT(v: WT, i: u32) -> f32 { return unpack2x16float(v)[i & 1u]; }',
};

export function shaderSource(name: ShaderName, wt: WeightType = 'f32'): string {
  const src = SHADERS[name];
  if (wt === 'f32' || !src.includes('alias WT = f32;')) return src;
  if (!F32_STORAGE.test(src)) throw new Error(`shader ${name}: its weight-storage lines are not in the expected form`);
  return src.replace(F32_STORAGE, `alias WT = u32;\nconst PACK: u32 = 2u; // weights per WT element\n${PACKED[wt]}`);
}
