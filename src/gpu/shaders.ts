// The WGSL sources, imported as strings (Vite `?raw`), and the weight-type specialisation:
// a shader that reads weights declares `alias WT = f32;`, replaced by f16 when weights are half.

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

export const SHADERS = {
  embedding,
  rmsnorm,
  matmul,
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
export type WeightType = 'f32' | 'f16';

export function shaderSource(name: ShaderName, wt: WeightType = 'f32'): string {
  const src = SHADERS[name];
  if (wt === 'f32') return src;
  if (!src.includes('alias WT = f32;')) return src;
  return 'enable f16;\n' + src.replace('alias WT = f32;', 'alias WT = f16;');
}
