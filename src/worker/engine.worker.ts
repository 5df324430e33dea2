// The engine in a Web Worker: all GPU and tokenizer work happens here, never on the UI thread.

import * as Comlink from 'comlink';
import { acquireDevice, type Gpu } from '../gpu/device';
import { loadModel, type LoadedModel } from '../engine/model';
import { browserCache, fileListSource, hubSource, urlSource, type ModelSource } from '../model/source';
import { UsageError } from '../errors';
import type { EngineApi, GenerateRequest, ModelSpec, RunEvent, RunProgress, RunRequest } from './protocol';
import { chatTurn } from './chat';
import { walkthrough } from './walkthrough';
import { loadAdapter } from '../train/peft';
import { parseJsonl } from '../train/data';
import { DEFAULT_LORA } from '../train/lora';
import { DEFAULT_TRAIN } from '../train/trainer';
import { httpJudge, rulesJudge, type Judge, type Rule } from '../tpo/judges';
import {
  adapterFromZip,
  adapterToZip,
  metricsFromCsv,
  metricsToCsv,
  pairsFromJsonl,
  pairsToJsonl,
} from '../tpo/export';
import type { IterationMetrics } from '../tpo/store';
import { adapterOf, checkPool, parseInstructions, runTpo, type TpoContext, type TpoOptions } from '../tpo/loop';
import { customPrompt, DIRECT } from '../tpo/prompts';
import { evaluate } from '../tpo/eval';
import { deleteRun, idbStore, openRunsDb } from '../tpo/store-idb';

let gpu: Gpu | undefined;
let model: LoadedModel | undefined;
let modelName = 'model';
let paused: { promise: Promise<void>; release: () => void } | null = null;
let abort: AbortController | null = null;

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
    modelName = spec.kind === 'hub' ? spec.repo : spec.kind === 'url' ? (spec.label ?? spec.baseUrl) : 'dropped model';
    return {
      label: spec.kind === 'url' ? (spec.label ?? m.source.label) : m.source.label,
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
      prompt = m.tokenizer.hasChatTemplate
        ? m.tokenizer.applyChatTemplate(req.messages)
        : m.tokenizer.encode(req.messages.map((x) => x.content).join('\n'));
    } else prompt = [m.config.bosTokenId ?? 1];
    const k = req.numSamples ?? 1;
    const out = await m.generate(
      Array.from({ length: k }, () => prompt),
      {
        maxNewTokens: req.maxNewTokens ?? 128,
        temperature: req.temperature ?? 0.8,
        topP: req.topP ?? 0.95,
        seed: req.seed ?? 0,
        stopStrings: req.stopStrings,
        onToken,
      },
    );
    return out.map((g) => ({ tokenIds: g.tokenIds, text: g.text ?? '', finishReason: g.finishReason }));
  },

  async unload() {
    model?.destroy();
    model = undefined;
  },

  async tpoRun(req: RunRequest, onProgress?: (p: RunProgress) => void, onEvent?: (e: RunEvent) => void) {
    const m = model;
    if (!m) throw new UsageError('No model is loaded', 'Load a model first.');
    const store = await idbStore(await openRunsDb(), req.runId);
    const stored = await store.readConfig();
    const fresh: TpoOptions = {
      prompt: customPrompt(
        req.template,
        req.separator || undefined,
        req.separator ? req.thoughtMarker : undefined,
        req.separator ? 'custom' : 'direct',
      ),
      samples: req.samples,
      temperature: req.temperature,
      topP: req.topP,
      seed: req.seed,
      maxNewTokens: req.maxNewTokens,
      perIteration: req.perIteration,
      rho: req.rho,
      maxLength: req.maxLength,
      baseModel: modelName,
      lora: { ...DEFAULT_LORA, r: req.loraR, alpha: req.loraAlpha },
      train: { ...DEFAULT_TRAIN, beta: req.beta, lr: req.lr, epochs: req.epochs, batchSize: req.batchSize },
      validation: req.validation ?? 0,
    };
    // A stored run keeps its settings (resume after a reload); only the iteration count may grow.
    const o = stored ? (stored.options as TpoOptions) : fresh;
    // The judge's settings are kept with the run, its API key never is.
    const { apiKey, ...judgeSpec } = req.judge as RunRequest['judge'] & { apiKey?: string };
    const spec = (stored?.judge as RunRequest['judge'] | undefined) ?? judgeSpec;
    const evalCount = stored ? Number(stored.evalCount ?? 0) : req.evalCount;
    // The iteration count is kept too (the form shows it after a reload); a resumed run may raise it.
    const iterations = Math.max(req.iterations, Number(stored?.iterations ?? 0));
    if (!stored || iterations !== stored.iterations)
      await store.writeConfig({
        ...(stored ?? {}),
        options: o,
        judge: spec,
        instructionsJsonl: stored?.instructionsJsonl ?? req.instructionsJsonl,
        model: stored?.model ?? modelName,
        evalCount,
        iterations,
      });
    const judge: Judge =
      spec.kind === 'http'
        ? httpJudge({ baseUrl: spec.baseUrl, model: spec.model, mode: spec.mode, apiKey })
        : rulesJudge(spec.rules as Rule[]);
    const all = parseInstructions(
      parseJsonl<Record<string, unknown>>(String(stored?.instructionsJsonl ?? req.instructionsJsonl), 'instructions'),
    );
    // The last evalCount instructions are never trained on: each iteration's win rate is measured there.
    const heldOut = all.slice(all.length - Math.min(evalCount, Math.max(0, all.length - 1)));
    const pool = all.slice(0, all.length - heldOut.length);
    checkPool(
      pool.length,
      o,
      iterations,
      (n) => `the set has ${n} after the ${heldOut.length} held out for the win rate`,
      'Add instructions, or lower the iterations, the instructions per iteration, the validation or the held-out count.',
    );
    abort = new AbortController();
    const t0 = performance.now();
    const tokens0 = m.generator.timings.decodeTokens;
    let lastIteration = 0;
    m.detachAdapter(); // a run starts from the base model (its own adapters are M_1, M_2, …)
    try {
      const progress = (p: { iteration: number; stage: RunProgress['stage']; done: number; total: number }) => {
        lastIteration = p.iteration;
        // tokens/s over this call; ETA from the mean time per finished unit of this stage
        const secs = Math.max(1e-3, (performance.now() - t0) / 1000);
        const tps = (m.generator.timings.decodeTokens - tokens0) / secs;
        onProgress?.({
          ...p,
          tokensPerSecond: tps,
          etaSeconds: p.done > 0 ? (secs / p.done) * (p.total - p.done) : null,
        });
      };
      const between = async () => {
        if (paused) await paused.promise;
        if (abort?.signal.aborted)
          throw new UsageError('the run was cancelled', 'Start it again with the same run id to resume.');
      };
      const onIteration = (metrics: IterationMetrics) => onEvent?.({ type: 'iteration', metrics });
      const ctx: TpoContext = {
        model: m,
        judge,
        store,
        signal: abort.signal,
        between,
        onStep: (step) => onEvent?.({ type: 'step', step, iteration: lastIteration }),
        onIteration,
        onProgress: progress,
        // The held-out win rate of the iteration's adapter, stored with its metrics (once: a resume skips it).
        afterIteration: async (metrics) => {
          if (!heldOut.length || metrics.eval) return;
          await between();
          const it = metrics.iteration;
          progress({ iteration: it, stage: 'evaluating', done: 0, total: heldOut.length });
          const r = await evaluate(
            m,
            judge,
            heldOut,
            { prompt: o.prompt, adapter: await adapterOf(ctx, it + 1, o) },
            { prompt: DIRECT, adapter: null },
            {
              maxNewTokens: o.maxNewTokens,
              temperature: 0,
              topP: 1,
              seed: o.seed,
              retries: 2,
            },
          );
          metrics.eval = { ...r };
          await store.writeMetrics(it, metrics);
          progress({ iteration: it, stage: 'evaluating', done: heldOut.length, total: heldOut.length });
          onIteration(metrics);
        },
      };
      const out = await runTpo(ctx, pool, o, iterations);
      m.detachAdapter();
      return out;
    } finally {
      abort = null;
    }
  },

  async chat(req, onUpdate) {
    const m = model;
    if (!m) throw new UsageError('No model is loaded', 'Load a model first.');
    const attached = m.forward.adapter;
    if (req.base && attached) m.forward.setAdapter(null);
    try {
      return await chatTurn(m, req, onUpdate);
    } finally {
      if (req.base && attached) m.forward.setAdapter(attached);
    }
  },

  async useAdapter(ref) {
    const m = model;
    if (!m) throw new UsageError('No model is loaded', 'Load a model first.');
    if (!ref) {
      m.detachAdapter();
      return 'none';
    }
    const files = await (await idbStore(await openRunsDb(), ref.runId)).readAdapter(ref.iteration);
    if (!files) throw new UsageError(`run "${ref.runId}" has no adapter for iteration ${ref.iteration}`);
    const ad = loadAdapter(m.config, files['adapter_config.json'], files['adapter_model.safetensors'], {
      baseModel: modelName,
    });
    m.attachAdapter(ad.layout, ad.values);
    return `${ref.runId} · iteration ${ref.iteration} (LoRA r ${ad.layout.lora.r})`;
  },

  async walkthrough(req, onStage) {
    const m = model;
    if (!m) throw new UsageError('No model is loaded', 'Load a model first.');
    await walkthrough(m, req, onStage);
  },

  async runMetrics(runId) {
    const store = await idbStore(await openRunsDb(), runId);
    const out: IterationMetrics[] = [];
    for (let it = 0; ; it++) {
      const mt = await store.readMetrics(it);
      if (!mt) break;
      out.push(mt);
    }
    return out;
  },

  async runConfig(runId) {
    return (await idbStore(await openRunsDb(), runId)).readConfig();
  },

  async pause() {
    if (paused) return;
    let release!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    paused = { promise, release };
  },

  async resume() {
    paused?.release();
    paused = null;
  },

  async cancel() {
    abort?.abort();
    paused?.release();
    paused = null;
  },

  async exportRun(runId) {
    const store = await idbStore(await openRunsDb(), runId);
    if (!(await store.readConfig())) throw new UsageError(`no run "${runId}" is stored`);
    const files: Record<string, Uint8Array> = {};
    const metrics: IterationMetrics[] = [];
    const enc = new TextEncoder();
    for (let it = 0; ; it++) {
      const pairs = await store.readPairs(it),
        adapter = await store.readAdapter(it),
        m = await store.readMetrics(it);
      if (!pairs && !adapter && !m) break;
      if (pairs) files[`pairs-${it}.jsonl`] = enc.encode(pairsToJsonl(pairs));
      if (adapter) files[`adapter-${it}.zip`] = adapterToZip(adapter);
      if (m) metrics.push(m);
    }
    files['metrics.csv'] = enc.encode(metricsToCsv(metrics));
    return files;
  },

  async importRun(runId, files) {
    const store = await idbStore(await openRunsDb(), runId);
    if (!(await store.readConfig())) await store.writeConfig({ imported: new Date().toISOString() });
    const done: string[] = [];
    const dec = new TextDecoder();
    for (const [name, bytes] of Object.entries(files)) {
      const m = /^(pairs|adapter)-(\d+)\.(jsonl|zip)$/.exec(name);
      if (m?.[1] === 'pairs') await store.writePairs(Number(m[2]), pairsFromJsonl(dec.decode(bytes)));
      else if (m?.[1] === 'adapter') await store.writeAdapter(Number(m[2]), adapterFromZip(bytes));
      else if (name.endsWith('.csv')) {
        for (const row of metricsFromCsv(dec.decode(bytes))) {
          const it = Number(row.iteration);
          const { win_rate, lc_win_rate, ...rest } = row as IterationMetrics & {
            win_rate?: number;
            lc_win_rate?: number;
          };
          const evalPart = Number.isFinite(win_rate)
            ? { eval: { win_rate: win_rate!, lc_win_rate: lc_win_rate ?? NaN } }
            : {};
          if (!(await store.readMetrics(it))) await store.writeMetrics(it, { ...rest, ...evalPart, dpo: [] });
        }
      } else
        throw new UsageError(
          `cannot import ${name}`,
          'Import pairs-<i>.jsonl (TRL), adapter-<i>.zip (PEFT) or metrics.csv files.',
        );
      done.push(name);
    }
    return done;
  },

  async listRuns() {
    const db = await openRunsDb();
    const runs = await db.getAll('runs');
    const range = (id: string) => IDBKeyRange.bound([id, 0], [id, Infinity]);
    return Promise.all(
      runs.map(async (r) => ({
        id: r.id,
        iterations: (await db.getAllKeys('metrics', range(r.id))).length,
        adapters: (await db.getAllKeys('adapters', range(r.id))).map((k) => (k as [string, number])[1]),
        pairs: (await db.getAll('pairs', range(r.id))).reduce((a, p) => a + p.pairs.length, 0),
        model: String((r.config as Record<string, unknown> | undefined)?.model ?? ''),
      })),
    );
  },

  async deleteRun(runId) {
    await deleteRun(await openRunsDb(), runId);
  },
};

Comlink.expose(api);
