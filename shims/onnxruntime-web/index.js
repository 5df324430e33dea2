// In place of onnxruntime-web (see ../README.md): what @huggingface/transformers reads when it loads.
import { Tensor } from 'onnxruntime-common';

export class OnnxRuntimeNotIncluded extends Error {
  constructor() {
    super(
      'ONNX Runtime is not part of this build: @huggingface/transformers is used for tokenizers and chat ' +
        "templates only, and models run on the engine's own WebGPU kernels.",
    );
    this.name = 'OnnxRuntimeNotIncluded';
  }
}

export const InferenceSession = {
  create() {
    return Promise.reject(new OnnxRuntimeNotIncluded());
  },
};

// transformers sets env.logLevel, env.wasm.* and env.webgpu.* when it loads: plain objects take them
export const env = { versions: {}, wasm: {}, webgpu: {} };
export { Tensor };
