// Installs Dawn's WebGPU globals (GPUBufferUsage, ...) before any test module loads.
import { nodeGpuObject } from '../../src/gpu/node';
await nodeGpuObject();
