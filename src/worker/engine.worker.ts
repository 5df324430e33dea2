// The engine in a Web Worker: all GPU and tokenizer work happens here, never on the UI thread.

import * as Comlink from 'comlink';
import { acquireDevice, type Gpu } from '../gpu/device';
import { loadModel, type LoadedModel } from '../engine/model';
import { browserCache, fileListSource, hubSource, urlSource, type ModelSource } from '../model/source';
import { UsageError } from '../errors';
import type { EngineApi, GenerateRequest, ModelSpec } from './protocol';

let gpu: Gpu | undefined;
let model: LoadedModel | undefined;

function sourceOf(spec: ModelSpec): ModelSource {
  switch (spec.kind) {
    case 'url':
      return urlSource(spec.baseUrl);
    case 'hub':
      return hubSource(spec.repo, { baseUrl: spec.hubUrl, revision: spec.revision, cache: browserCache() });
    case 'files':
      return fileListSource(spec.files);
  }
}

const api: EngineApi = {
  async load(spec, onProgress) {
    gpu ??= await acquireDevice(navigator.gpu);
    model?.destroy();
    model = undefined;
    const m = await loadModel(gpu, sourceOf(spec), { slots: 8, maxLen: 1024, onProgress });
    model = m;
    return {
      label: spec.kind === 'url' ? spec.label ?? m.source.label : m.source.label,
      modelType: m.config.modelType,
      layers: m.config.layers,
      hidden: m.config.hidden,
      vocab: m.config.vocab,
      weightType: m.weights.wt,
      weightBytes: m.weights.bytes,
      hasTokenizer: !!m.tokenizer,
      adapter: gpu.adapterName,
      software: gpu.isSoftware,
    };
  },

  async generate(req: GenerateRequest, onToken) {
    const m = model;
    if (!m) throw new UsageError('No model is loaded', 'Load a model first.');
    let prompt: number[];
    if (req.promptIds?.length) prompt = req.promptIds;
    else if (req.messages?.length) {
      if (!m.tokenizer) throw new UsageError('This model has no tokenizer', 'Give token ids instead of text.');
      prompt = m.tokenizer.hasChatTemplate ? m.tokenizer.applyChatTemplate(req.messages) : m.tokenizer.encode(req.messages.map((x) => x.content).join('\n'));
    } else prompt = [m.config.bosTokenId ?? 1];
    const k = req.numSamples ?? 1;
    const out = await m.generate(Array.from({ length: k }, () => prompt), {
      maxNewTokens: req.maxNewTokens ?? 128,
      temperature: req.temperature ?? 0.8,
      topP: req.topP ?? 0.95,
      seed: req.seed ?? 0,
      stopStrings: req.stopStrings,
      onToken,
    });
    return out.map((g) => ({ tokenIds: g.tokenIds, text: g.text ?? '', finishReason: g.finishReason }));
  },

  async unload() {
    model?.destroy();
    model = undefined;
  },
};

Comlink.expose(api);
