// Typed errors. Every error says what went wrong and what the user can do about it.
// `name` is set explicitly so it survives minification and crossing a worker boundary.

export class TpoError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(hint ? `${message}\n  → ${hint}` : message);
    this.name = new.target.name;
  }
}

/** No WebGPU API, or no adapter behind it. */
export class WebGPUNotAvailableError extends TpoError {}
/** The device was lost (driver reset, out of memory, tab backgrounded for long). */
export class DeviceLostError extends TpoError {}
/** A WebGPU validation or out-of-memory error that was not expected. */
export class GPUValidationError extends TpoError {}
/** The model does not fit the device's limits. */
export class DeviceLimitError extends TpoError {}
/** The GPU ran out of memory for a model (e.g. a judge model beside the policy). */
export class GpuMemoryError extends TpoError {}
/** config.json is missing, malformed or describes an unsupported model. */
export class ModelConfigError extends TpoError {}
/** A safetensors file is malformed, truncated or does not match the config. */
export class SafetensorsError extends TpoError {}
/** A file could not be fetched or read from its source. */
export class ModelSourceError extends TpoError {}
/** Bad arguments to a public API or the CLI. */
export class UsageError extends TpoError {}
