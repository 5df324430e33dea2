// In place of onnxruntime-node (see ../README.md): what @huggingface/transformers reads when it loads.
const { Tensor } = require('onnxruntime-common');

class OnnxRuntimeNotIncluded extends Error {
  constructor() {
    super(
      'ONNX Runtime is not part of this install: @huggingface/transformers is used for tokenizers and chat ' +
        'templates only, and models run on the engine\'s own WebGPU kernels (load them with loadModel).',
    );
    this.name = 'OnnxRuntimeNotIncluded';
  }
}

const InferenceSession = {
  create() {
    return Promise.reject(new OnnxRuntimeNotIncluded());
  },
};

module.exports = { env: { versions: {} }, InferenceSession, Tensor, OnnxRuntimeNotIncluded };
