// The CLI's GPU: the machine's own adapter through Dawn, else a software one (SwiftShader),
// announced on stderr. The software Vulkan loader must be in the environment when the process
// starts, so the CLI re-runs itself with it.

import { spawn } from 'node:child_process';
import type { Gpu } from '../gpu/device';
import { WebGPUNotAvailableError } from '../errors';
import { acquireNodeDevice, softwareGpuEnv, usingSoftwareVulkan } from '../gpu/node';

/** Returns a device, or (when a software re-run was needed) the child's exit code. */
export async function cliGpu(argv: string[]): Promise<Gpu | number> {
  try {
    const gpu = await acquireNodeDevice();
    if (gpu.isSoftware || usingSoftwareVulkan())
      process.stderr.write(`tpo: using the software WebGPU adapter (${gpu.adapterName}); expect CPU speed\n`);
    return gpu;
  } catch (e) {
    if (!(e instanceof WebGPUNotAvailableError) || usingSoftwareVulkan() || process.env.TPO_NO_SOFTWARE_GPU) throw e;
  }
  process.stderr.write('tpo: no GPU adapter found; switching to the software adapter (SwiftShader)\n');
  const env = { ...process.env, ...(await softwareGpuEnv()) };
  const child = spawn(process.execPath, [...process.execArgv, ...argv], { env, stdio: 'inherit' });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}
