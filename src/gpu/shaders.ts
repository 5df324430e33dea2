// The WGSL sources, imported as strings (Vite `?raw`), and the weight-storage specialisation:
// a shader that reads weights declares them f32 (`alias WT = f32;` and an unpack function); for
// 16-bit weights those lines become u32 words holding two bf16 or f16 values each; for quantized
// (q8, q4) weights every weight read becomes a function that dequantizes one value.

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
import { QUANT, type QuantType } from '../model/quant';

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
/**
 * How weights are stored on the GPU: f32; 16-bit values packed two per u32 (any adapter); or
 * quantized, q8 / q4 with an f16 scale per group of 32 (model/quant.ts has the layout).
 */
export type WeightType = 'f32' | 'bf16' | 'f16' | QuantType;

/** The weight-storage lines of a shader that reads weights, as written for f32 (see matmul.wgsl). */
const F32_STORAGE = /alias WT = f32;\nconst PACK: u32 = 1u;[^\n]*\nfn unpackWT\(v: WT, i: u32\) -> f32 \{ return v; \}/;

/** The same lines for packed 16-bit weights: element i is the low (even i) or high half of word i/2. */
const PACKED: Record<'bf16' | 'f16', string> = {
  // bf16 → f32 is the 16 bits moved to the top of the word
  bf16: 'fn unpackWT(v: WT, i: u32) -> f32 { return bitcast<f32>(select(v << 16u, v & 0xffff0000u, (i & 1u) == 1u)); }',
  // f16 through the core unpack2x16float: no shader-f16 needed
  f16: 'fn unpackWT(v: WT, i: u32) -> f32 { return unpack2x16float(v)[i & 1u]; }',
};

/** Code that needs the `subgroups` feature: `// #if subgroups` … (`// #else` … fallback) `// #endif`. */
const SUBGROUP_BLOCK = /\/\/ #if subgroups\n([\s\S]*?)(?:\/\/ #else\n([\s\S]*?))?\/\/ #endif\n/g;

/**
 * A shader's source for weights stored as `wt`; with `subgroups` its subgroup code is kept and the
 * module enables the feature (the device must have it), else the fallback (if any) is.
 */
export function shaderSource(name: ShaderName, wt: WeightType = 'f32', subgroups = false): string {
  const all = SHADERS[name];
  const src = all.replace(SUBGROUP_BLOCK, (_, sub: string, fallback?: string) => (subgroups ? sub : (fallback ?? '')));
  return weightStorage(name, subgroups ? `enable subgroups;\n${src}` : src, wt);
}

function weightStorage(name: ShaderName, src: string, wt: WeightType): string {
  if (wt === 'f32' || !src.includes('alias WT = f32;')) return src;
  if (!F32_STORAGE.test(src)) throw new Error(`shader ${name}: its weight-storage lines are not in the expected form`);
  if (wt === 'q8' || wt === 'q4') return quantized(name, src, wt);
  return src.replace(F32_STORAGE, `alias WT = u32;\nconst PACK: u32 = 2u; // weights per WT element\n${PACKED[wt]}`);
}

/** A weight read as the shaders write it: unpackWT(NAME[i / PACK], i). */
const WEIGHT_READ = /unpackWT\((\w+)\[(\w+) \/ PACK\], \2\)/g;

/**
 * The shader with quantized weights: WT is a u32 word, and every weight read
 * `unpackWT(NAME[i / PACK], i)` becomes `qw_NAME(i)`, which finds element i's block of two
 * groups, its group's f16 scale and its signed integer (model/quant.ts's layout).
 */
function quantized(name: ShaderName, src: string, t: QuantType): string {
  const { bits, perWord, blockWords } = QUANT[t];
  const arrays = new Set([...src.matchAll(WEIGHT_READ)].map((m) => m[1]));
  const out = src
    .replace(
      F32_STORAGE,
      `alias WT = u32;\nconst PACK: u32 = 1u;\nconst WEIGHT_BLOCK_WORDS: u32 = ${blockWords}u; // ${t}`,
    )
    .replace(WEIGHT_READ, (_, arr: string, i: string) => `qw_${arr}(${i})`);
  if (out.includes('unpackWT('))
    throw new Error(`shader ${name}: a weight read is not in the form unpackWT(W[i / PACK], i)`);
  const read = (arr: string) => `
/** ${t} weight i of ${arr}: its block of two groups, its group's f16 scale, its signed value. */
fn qw_${arr}(i: u32) -> f32 {
  let block = (i / 64u) * WEIGHT_BLOCK_WORDS;
  let scale = unpack2x16float(${arr}[block])[(i / 32u) & 1u];
  let e = i % 64u;
  let word = bitcast<i32>(${arr}[block + 1u + e / ${perWord}u]);
  return f32(extractBits(word, ${bits}u * (e % ${perWord}u), ${bits}u)) * scale;
}
`;
  return out + [...arrays].map(read).join('');
}
