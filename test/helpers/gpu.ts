import { acquireNodeDevice } from '../../src/gpu/node';
import type { Gpu } from '../../src/gpu/device';

let shared: Promise<Gpu> | undefined;
/** One device per test file (each file runs in its own process). */
export function testGpu(): Promise<Gpu> {
  return (shared ??= acquireNodeDevice());
}

/**
 * Whether the subgroup variants of the decode kernels can run on this machine's adapter. Dawn's
 * SwiftShader (this project's CI) must grant `subgroups`: there the subgroup cases always run, and a
 * SwiftShader without them fails here. A hardware GPU runs them where it grants the feature.
 */
export async function subgroupsHere(): Promise<boolean> {
  const gpu = await testGpu();
  if (/swiftshader/i.test(gpu.adapterName) && !gpu.hasSubgroups)
    throw new Error(`${gpu.adapterName} does not grant subgroups: the subgroup kernels would go untested`);
  return gpu.hasSubgroups;
}

/** Runs `fn` inside validation and out-of-memory error scopes and fails on any GPU error. */
export async function noGpuErrors<T>(gpu: Gpu, fn: () => Promise<T> | T): Promise<T> {
  const d = gpu.device;
  d.pushErrorScope('validation');
  d.pushErrorScope('out-of-memory');
  const out = await fn();
  const oom = await d.popErrorScope();
  const val = await d.popErrorScope();
  if (oom || val) throw new Error(`GPU error: ${(val ?? oom)!.message}`);
  if (gpu.errors.length) throw gpu.errors[0];
  return out;
}
