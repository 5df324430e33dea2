// Device acquisition for the browser (navigator.gpu) and Node (Dawn through npm `webgpu`).
// Requests the adapter's maximum buffer limits and `shader-f16` / `subgroups` when present, and turns
// `device.lost` and uncaptured errors into typed errors.

import { DeviceLimitError, DeviceLostError, GPUValidationError, WebGPUNotAvailableError } from '../errors';

export interface Gpu {
  device: GPUDevice;
  /** True when `shader-f16` was granted (reported; 16-bit weights need no feature: they are packed). */
  hasF16: boolean;
  /** True when `subgroups` was granted: the decode kernels then reduce with subgroupAdd. */
  hasSubgroups: boolean;
  /** Adapter description, for logs ("swiftshader", "nvidia", ...). */
  adapterName: string;
  isSoftware: boolean;
  /** Resolves with a DeviceLostError when the device is lost (never rejects). */
  lost: Promise<DeviceLostError>;
  /** Errors raised asynchronously by the device; checked by `throwIfFailed`. */
  errors: GPUValidationError[];
}

export interface GpuOptions {
  /** Set false to ignore shader-f16 even where the adapter offers it. */
  allowF16?: boolean;
  /** Set false to ignore `subgroups` even where the adapter offers it (the workgroup-memory reductions then). */
  allowSubgroups?: boolean;
  powerPreference?: GPUPowerPreference;
  /** Request WebGPU's default limits (128 MiB a binding, 256 MiB a buffer: what every adapter
   *  grants) instead of the adapter's maxima, as the smallest GPU would offer. */
  defaultLimits?: boolean;
}

const LIMITS_TO_MAXIMISE = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
] as const;

/** Acquire a device from a GPU object (navigator.gpu, or Dawn's `create([])`). */
export async function acquireDevice(gpu: GPU | undefined, opts: GpuOptions = {}): Promise<Gpu> {
  if (!gpu) {
    throw new WebGPUNotAvailableError(
      'WebGPU is not available in this environment.',
      'Use a recent Chrome or Edge (113+); on Linux start Chrome with ' +
        '--enable-unsafe-webgpu --enable-features=Vulkan, ' +
        'or check chrome://gpu.',
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new WebGPUNotAvailableError(
      'WebGPU is present but no GPU adapter was found.',
      'Update the GPU driver, enable hardware acceleration in the browser settings, or check chrome://gpu for ' +
        'a blocklist entry.',
    );
  }
  const requiredLimits: Record<string, number> = {};
  if (!opts.defaultLimits) for (const name of LIMITS_TO_MAXIMISE) requiredLimits[name] = adapter.limits[name];
  const hasF16 = (opts.allowF16 ?? true) && adapter.features.has('shader-f16');
  const requiredFeatures: GPUFeatureName[] = hasF16 ? ['shader-f16'] : [];
  const hasSubgroups = (opts.allowSubgroups ?? true) && adapter.features.has('subgroups' as GPUFeatureName);
  if (hasSubgroups) requiredFeatures.push('subgroups' as GPUFeatureName);
  // Timestamps are only for the benchmark's per-kernel profile; harmless where granted.
  if (adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  const adapterName =
    [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unknown adapter';
  const isSoftware = /swiftshader|llvmpipe|lavapipe|software/i.test(adapterName);

  const errors: GPUValidationError[] = [];
  device.addEventListener('uncapturederror', (ev) => {
    const e = (ev as GPUUncapturedErrorEvent).error;
    errors.push(
      new GPUValidationError(
        `WebGPU error: ${e.message}`,
        e instanceof GPUOutOfMemoryError
          ? 'The GPU ran out of memory: use a smaller model, batch or context length.'
          : undefined,
      ),
    );
  });
  const lost = device.lost.then(
    (info) =>
      new DeviceLostError(
        `The GPU device was lost (${info.reason}): ${info.message}`,
        'Reload the model; work saved so far is kept.',
      ),
  );
  return { device, hasF16, hasSubgroups, adapterName, isSoftware, lost, errors };
}

/** Throws the first asynchronous device error, if any was recorded. */
export function throwIfFailed(gpu: Gpu): void {
  if (gpu.errors.length) throw gpu.errors[0];
}

/** Checks that one buffer of `bytes` can be created and bound on this device. */
export function checkBindable(gpu: Gpu, bytes: number, what: string): void {
  const lim = gpu.device.limits;
  if (bytes > lim.maxStorageBufferBindingSize || bytes > lim.maxBufferSize) {
    throw new DeviceLimitError(
      `${what} needs a ${(bytes / 2 ** 20).toFixed(1)} MiB buffer; ` +
        `this device binds at most ${(lim.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB.`,
      'Use a shorter context (maxSeqLen), a smaller batch, or a smaller model.',
    );
  }
}
