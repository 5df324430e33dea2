import { defineConfig } from 'vitest/config';
import { softwareGpuEnv } from './src/gpu/node';

// Tests run on WebGPU through Dawn. With no GPU (CI), point Dawn at SwiftShader before the test
// workers start: the Vulkan loader path must be in their environment from the beginning.
// TPO_HARDWARE_GPU=1 keeps the machine's own GPU.
if (!process.env.TPO_HARDWARE_GPU && !process.env.VK_ICD_FILENAMES) Object.assign(process.env, await softwareGpuEnv());

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    setupFiles: ['test/helpers/setup.ts'],
    fileParallelism: false,
  },
});
