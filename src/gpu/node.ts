// Node: WebGPU through Dawn (npm `webgpu`). With no hardware adapter, a software one
// (SwiftShader, shipped inside npm `@sparticuz/chromium`) is used; its Vulkan loader must be
// on LD_LIBRARY_PATH before the process starts, so callers re-exec with `softwareGpuEnv()`.

import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireDevice, type Gpu, type GpuOptions } from './device';

// Dawn aborts when its GPU object is garbage-collected: keep it for the life of the process.
let dawn: GPU | undefined;

export async function nodeGpuObject(): Promise<GPU> {
  if (!dawn) {
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    // TPO_DAWN_FLAGS: Dawn options, e.g. "enable-dawn-features=skip_validation" (space-separated).
    dawn = create((process.env.TPO_DAWN_FLAGS ?? '').split(' ').filter(Boolean)) as unknown as GPU;
  }
  return dawn;
}

export async function acquireNodeDevice(opts: GpuOptions = {}): Promise<Gpu> {
  return acquireDevice(await nodeGpuObject(), opts);
}

/** True when this process was started with the software Vulkan driver. */
export function usingSoftwareVulkan(): boolean {
  return (process.env.VK_ICD_FILENAMES ?? '').includes('swiftshader');
}

/** Unpacks SwiftShader (from @sparticuz/chromium) and returns the environment that selects it. */
export async function softwareGpuEnv(): Promise<Record<string, string>> {
  const dir = tmpdir();
  const icd = join(dir, 'vk_swiftshader_icd.json');
  if (!existsSync(icd) || !existsSync(join(dir, 'libvulkan.so.1'))) {
    const { default: chromium } = await import('@sparticuz/chromium');
    await chromium.executablePath(); // inflates chromium, libvulkan.so.1 and SwiftShader into tmpdir()
  }
  const ld = process.env.LD_LIBRARY_PATH;
  return { LD_LIBRARY_PATH: ld ? `${dir}:${ld}` : dir, VK_ICD_FILENAMES: icd };
}
