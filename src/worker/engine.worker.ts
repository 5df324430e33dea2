// The engine in a Web Worker: all GPU and tokenizer work happens here, never on the UI thread.

import * as Comlink from 'comlink';
import { acquireDevice, type Gpu, type GpuOptions } from '../gpu/device';
import { loadModel, type LoadedModel } from '../engine/model';
import { browserCache, fileListSource, hubSource, type ModelSource, type Progress, urlSource } from '../model/source';
import { DeviceLostError, GpuMemoryError, UsageError } from '../errors';
import type {
  AdapterRef,
  EngineApi,
  GenerateRequest,
  JudgeModelSpec,
  ModelSpec,
  RunEvent,
  RunProgress,
  RunRequest,
} from './protocol';
import { chatTurn } from './chat';
import { walkthrough } from './walkthrough';
import { type AdapterFiles, loadAdapter } from '../train/peft';
import { parseJsonl } from '../train/data';
import type { Judge, Rule } from '../tpo/judges';
import { JUDGE_DEFAULTS, type JudgeSpec, makeJudge } from '../tpo/judge-spec';
import { checkPool, parseInstructions } from '../tpo/loop';
import { customPrompt, NATIVE } from '../tpo/prompts';
import { holdOut, openRun, RunControl, type RunRecord, type RunSettings, runTpoSession, tpoOptions } from '../tpo/run';
import { exportRunFiles, importRunFiles } from '../tpo/run-files';
import { runMetrics } from '../tpo/store';
import { deleteRun, idbStore, listRuns, openRunsDb } from '../tpo/store-idb';
import { PAPER_SAMPLING } from '../tpo/sampling';
import { haltAt, onCrashPoint } from '../tpo/fault';

/**
 * The worker's state, in one object. Its phases and the one function that moves between them:
 *   no device ──device()──▶ a device ──loadOnto()──▶ a model loaded ──tpoRun()──▶ a run in flight
 *   a lost device ──deviceLost()──▶ no device, no models (the spec is kept: `ready()` loads it again)
 *   unload() ──▶ a device, no models
 * A judge model (loadJudgeModel) lives beside the policy on the same device until its spec changes.
 */
const state: {
  gpu?: Gpu;
  /** Set when the device is lost; cleared when a new one is acquired. */
  lost?: DeviceLostError;
  model?: LoadedModel;
  /** What was last loaded, so that a lost device can be replaced and the model loaded onto the new one. */
  spec?: ModelSpec;
  /** The policy's name in runs and judge labels. */
  modelName: string;
  /** A local judge model and the spec it was loaded from. */
  judge?: { key: string; model: LoadedModel };
  /** The running TPO run's pause and cancel. */
  control: RunControl | null;
  /** How the device is requested (setDeviceOptions). */
  deviceOptions: GpuOptions;
} = { modelName: 'model', control: null, deviceOptions: {} };

/** KV-cache bytes the page allows itself when it sizes batches (all layers, keys and values). */
const PAGE_KV_BUDGET = 512 * 2 ** 20;

/** The device, acquired once; a lost one is forgotten (with its models) so that the next call gets a new one. */
async function device(): Promise<Gpu> {
  if (state.gpu) return state.gpu;
  const g = await acquireDevice(navigator.gpu, state.deviceOptions);
  state.lost = undefined;
  void g.lost.then((err) => deviceLost(g, err));
  state.gpu = g;
  return g;
}

/** The lost-device transition: the models' buffers went with the device; the spec stays. */
function deviceLost(g: Gpu, err: DeviceLostError): void {
  if (state.gpu !== g) return;
  state.lost = err;
  state.gpu = undefined;
  state.model = undefined;
  state.judge = undefined;
}

/** The name a spec gives the policy. */
const specName = (spec: ModelSpec) =>
  spec.kind === 'hub' ? spec.repo : spec.kind === 'url' ? (spec.label ?? spec.baseUrl) : 'dropped model';

/** Loads `spec` onto the device, in place of the model loaded before. */
async function loadOnto(spec: ModelSpec, onProgress?: (p: Progress) => void): Promise<LoadedModel> {
  const g = await device();
  state.model?.destroy();
  state.model = undefined;
  // Wide sampling batches: as many sequences as fit this device's bindings and a KV budget a
  // laptop GPU can spare, up to 64 (a TPO iteration samples instructions × K of them).
  const m = await loadModel(g, sourceOf(spec), {
    ...{ maxSlots: 64, kvBudget: PAGE_KV_BUDGET, maxLen: 1024, onProgress },
    weightDtype: spec.weightDtype ?? 'auto',
  });
  Object.assign(state, { model: m, spec, modelName: specName(spec) });
  return m;
}

/** The unload transition: the policy and any judge model freed; the device kept. */
function unload(): void {
  state.model?.destroy();
  state.model = undefined;
  dropJudgeModel();
}

/** The loaded model; after a lost device, the same model loaded again onto a new device. */
async function ready(): Promise<LoadedModel> {
  if (!state.model && state.lost && state.spec) await loadOnto(state.spec);
  return loaded();
}

/** The device-lost error for a failure that a lost device caused (its promise may settle just after). */
async function lostCause(g: Gpu): Promise<DeviceLostError | undefined> {
  return Promise.race([g.lost, new Promise<undefined>((ok) => setTimeout(ok, 1000))]);
}

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

/** The loaded model, or a UsageError saying to load one. */
function loaded(): LoadedModel {
  if (!state.model) throw new UsageError('No model is loaded', 'Load a model first.');
  return state.model;
}

/** An adapter's two PEFT files: from a stored run, or from a folder served at a URL. */
async function adapterFiles(ref: AdapterRef): Promise<AdapterFiles> {
  if ('url' in ref) {
    const src = urlSource(ref.url);
    const [config, weights] = await Promise.all([
      src.read('adapter_config.json'),
      src.read('adapter_model.safetensors'),
    ]);
    if (!config || !weights)
      throw new UsageError(`${ref.label}: no adapter_config.json and adapter_model.safetensors at ${ref.url}`);
    return { 'adapter_config.json': config, 'adapter_model.safetensors': weights };
  }
  const files = await (await idbStore(await openRunsDb(), ref.runId)).readAdapter(ref.iteration);
  if (!files) throw new UsageError(`run "${ref.runId}" has no adapter for iteration ${ref.iteration}`);
  return files;
}

/** The Train form's fields as run settings (a separator makes the template a thought prompt). */
function runSettings(req: RunRequest): RunSettings {
  const sep = req.separator || undefined;
  const custom = () => customPrompt(req.template, sep, sep ? req.thoughtMarker : undefined, sep ? 'custom' : 'direct');
  return {
    prompt: req.nativeThinking ? NATIVE : custom(),
    baseModel: state.modelName,
    ...{ samples: req.samples, temperature: req.temperature, topP: req.topP, seed: req.seed },
    ...{ maxNewTokens: req.maxNewTokens, perIteration: req.perIteration, rho: req.rho, maxLength: req.maxLength },
    ...{ loraR: req.loraR, loraAlpha: req.loraAlpha, beta: req.beta, lr: req.lr, epochs: req.epochs },
    ...{ batchSize: req.batchSize, validation: req.validation ?? 0, sampleBatch: req.sampleBatch || undefined },
  };
}

/** KV-cache bytes a judge model may take (its batches are smaller than the policy's). */
const JUDGE_KV_BUDGET = 128 * 2 ** 20;

const judgeLabel = (spec: JudgeModelSpec) => (spec.kind === 'hub' ? spec.repo : (spec.label ?? spec.baseUrl));

function dropJudgeModel(): void {
  state.judge?.model.destroy();
  state.judge = undefined;
}

/** The judge model for this spec, loaded onto the policy's device and kept between runs while its
 *  spec stays the same; a clear error when it does not fit. */
async function loadJudgeModel(spec: JudgeModelSpec): Promise<LoadedModel> {
  const key = JSON.stringify(spec);
  if (state.judge?.key === key && state.judge.model.gpu === state.gpu) return state.judge.model;
  dropJudgeModel();
  const g = await device();
  g.device.pushErrorScope('out-of-memory');
  let m: LoadedModel | undefined;
  let failure: unknown;
  try {
    m = await loadModel(g, sourceOf(spec), {
      ...{ maxSlots: 16, kvBudget: JUDGE_KV_BUDGET, maxLen: 1024, maxRows: 256 },
      weightDtype: spec.weightDtype ?? 'auto',
    });
  } catch (e) {
    failure = e;
  }
  const oom = await g.device.popErrorScope();
  if (oom || /out of memory/i.test(String((failure as Error)?.message ?? ''))) {
    m?.destroy();
    throw new GpuMemoryError(
      `The judge model ${judgeLabel(spec)} does not fit on this GPU beside the policy ` +
        `(${fmtMiB(state.model?.weights.bytes)} of weights).`,
      'Store the judge (or the policy) with q8 or q4 weights, choose a smaller judge, or judge with rules or an HTTP endpoint.',
    );
  }
  if (failure) throw failure;
  state.judge = { key, model: m! };
  return m!;
}

const fmtMiB = (b?: number) => (b === undefined ? '?' : `${(b / 2 ** 20).toFixed(0)} MiB`);

/** The judge a run's (or the walkthrough's) spec describes; its judge models load beside the policy. */
function pageJudge(spec: JudgeSpec<JudgeModelSpec>, policy: LoadedModel, apiKey?: string): Promise<Judge> {
  return makeJudge(spec, {
    ...{ loadModel: loadJudgeModel, label: judgeLabel, apiKey },
    policy: { model: policy, label: state.modelName },
    pairwiseTokens: JUDGE_DEFAULTS.pagePairwiseTokens,
  });
}

/** What the pool is, and which form fields to change, when it holds too few instructions. */
function poolNote(heldOut: number) {
  return {
    has: (n: number) => `the set has ${n} after the ${heldOut} held out for the win rate`,
    hint:
      'Add instructions, or lower the iterations, the instructions per iteration, ' +
      'the validation or the held-out count.',
  };
}

const api: EngineApi = {
  async load(spec, onProgress) {
    const m = await loadOnto(spec, onProgress);
    const g = m.gpu;
    return {
      label: spec.kind === 'url' ? (spec.label ?? m.source.label) : m.source.label,
      modelType: m.config.modelType,
      layers: m.config.layers,
      hidden: m.config.hidden,
      vocab: m.config.vocab,
      weightType: m.weights.wt,
      weightBytes: m.weights.bytes,
      slots: m.forward.shape.slots,
      hasTokenizer: !!m.tokenizer,
      thinksNatively: !!m.tokenizer?.thinkingToggle,
      adapter: g.adapterName,
      software: g.isSoftware,
      maxBindingBytes: g.device.limits.maxStorageBufferBindingSize,
      maxBufferBytes: g.device.limits.maxBufferSize,
    };
  },

  async setDeviceOptions(o) {
    if (state.gpu) throw new UsageError('The GPU device is already acquired', 'Set device options before loading.');
    state.deviceOptions = { ...o };
  },

  async generate(req: GenerateRequest, onToken) {
    const m = await ready();
    let prompt: number[];
    if (req.promptIds?.length) prompt = req.promptIds;
    else if (req.messages?.length) {
      if (!m.tokenizer) throw new UsageError('This model has no tokenizer', 'Give token ids instead of text.');
      prompt = m.tokenizer.hasChatTemplate
        ? m.tokenizer.applyChatTemplate(req.messages)
        : m.tokenizer.encode(req.messages.map((x) => x.content).join('\n'));
    } else prompt = [m.config.bosTokenId ?? 1];
    const k = req.numSamples ?? 1;
    const out = await m.generate(
      Array.from({ length: k }, () => prompt),
      {
        maxNewTokens: req.maxNewTokens ?? 128,
        temperature: req.temperature ?? PAPER_SAMPLING.temperature,
        topP: req.topP ?? PAPER_SAMPLING.topP,
        seed: req.seed ?? 0,
        stopStrings: req.stopStrings,
        onToken,
      },
    );
    return out.map((g) => ({ tokenIds: g.tokenIds, text: g.text ?? '', finishReason: g.finishReason }));
  },

  async unload() {
    unload();
  },

  async tpoRun(req: RunRequest, onProgress?: (p: RunProgress) => void, onEvent?: (e: RunEvent) => void) {
    // before any await: a pause or cancel sent right after the start holds
    const control = (state.control = new RunControl());
    const m = await ready();
    const store = await idbStore(await openRunsDb(), req.runId);
    // The judge's settings are kept with the run, its API key never is.
    const { apiKey, ...judge } = req.judge as RunRequest['judge'] & { apiKey?: string };
    const options = tpoOptions(runSettings(req), 0, req.iterations);
    const fresh = { options, judge, iterations: req.iterations, model: state.modelName, evalCount: req.evalCount };
    // The last evalCount instructions are never trained on: each iteration's win rate is measured there.
    const split = (run: RunRecord) => {
      const all = parseInstructions(parseJsonl<Record<string, unknown>>(String(run.instructionsJsonl), 'instructions'));
      return holdOut(all, Number(run.evalCount ?? 0));
    };
    let parts: ReturnType<typeof split> = { pool: [], heldOut: [] };
    const check = (run: RunRecord) => {
      parts = split(run); // openRun checks every run it returns: parsed once, used below
      const note = poolNote(parts.heldOut.length);
      checkPool(parts.pool.length, run.options, run.iterations, note.has, note.hint);
    };
    const run = await openRun(store, { ...fresh, instructionsJsonl: req.instructionsJsonl }, { check });
    const { pool, heldOut } = parts;
    try {
      return await runTpoSession(
        { model: m, judge: await pageJudge(run.judge as JudgeSpec<JudgeModelSpec>, m, apiKey), store },
        pool,
        run,
        {
          ...{ onProgress, control, heldOut, pool: poolNote(heldOut.length) },
          onStep: (step, iteration) => onEvent?.({ type: 'step', step, iteration }),
          onIteration: (metrics) => onEvent?.({ type: 'iteration', metrics }),
        },
      );
    } catch (e) {
      // A lost device ends the run here; what was stored stays, and Start resumes on a new device.
      const lost = await lostCause(m.gpu);
      if (lost)
        throw new DeviceLostError(
          `${lost.message.split('\n')[0].replace(/[.\s]+$/, '')}. The run stopped; everything it stored is kept.`,
          'Press Start to resume it from its last stored unit: the model is loaded again onto a new GPU device.',
        );
      throw e;
    } finally {
      state.control = null;
    }
  },

  async destroyDevice() {
    state.gpu?.device.destroy();
  },

  haltAt(point, n) {
    return new Promise<void>((reached) => haltAt(point, n, reached));
  },

  pauseAt(point, n) {
    return new Promise<void>((reached) =>
      onCrashPoint(point, n, () => {
        state.control?.pause();
        reached();
        return undefined;
      }),
    );
  },

  async chat(req, onUpdate) {
    const m = await ready();
    const attached = m.forward.adapter;
    if (req.base && attached) m.forward.setAdapter(null);
    try {
      return await chatTurn(m, req, onUpdate);
    } finally {
      if (req.base && attached) m.forward.setAdapter(attached);
    }
  },

  async useAdapter(ref) {
    const m = await ready();
    if (!ref) {
      m.detachAdapter();
      return 'none';
    }
    const files = await adapterFiles(ref);
    const ad = loadAdapter(m.config, files['adapter_config.json'], files['adapter_model.safetensors'], {
      baseModel: state.modelName,
    });
    m.attachAdapter(ad.layout, ad.values);
    const label = 'url' in ref ? ref.label : `${ref.runId} · iteration ${ref.iteration}`;
    return `${label} (LoRA r ${ad.layout.lora.r})`;
  },

  async walkthrough(req, onStage) {
    const m = await ready();
    const judge = await pageJudge(req.judge ?? { kind: 'rules', rules: req.rules as Rule[] }, m);
    await walkthrough(m, req, judge, onStage);
  },

  async runMetrics(runId) {
    return runMetrics(await idbStore(await openRunsDb(), runId));
  },

  async runConfig(runId) {
    return (await idbStore(await openRunsDb(), runId)).readConfig();
  },

  async pause() {
    state.control?.pause();
  },

  async resume() {
    state.control?.resume();
  },

  async cancel() {
    state.control?.cancel();
  },

  async exportRun(runId) {
    return exportRunFiles(await idbStore(await openRunsDb(), runId), runId);
  },

  async importRun(runId, files) {
    return importRunFiles(await idbStore(await openRunsDb(), runId), files);
  },

  async listRuns() {
    return listRuns(await openRunsDb());
  },

  async deleteRun(runId) {
    await deleteRun(await openRunsDb(), runId);
  },
};

Comlink.expose(api);
