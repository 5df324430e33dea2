// Loading a model onto the GPU: source → checkpoint → weights → forward plan → generator.

import type { Gpu } from '../gpu/device';
import { loadCheckpoint } from '../model/checkpoint';
import type { ModelConfig } from '../model/config';
import type { ModelSource, ProgressFn } from '../model/source';
import { loadTokenizer, type Tokenizer } from '../model/tokenizer';
import { Forward, type ForwardShape } from './forward';
import { Generator, type GenerateOptions, type Generation } from './generate';
import { chooseWeightType, destroyWeights, uploadWeights, type GpuWeights, type WeightDtypeChoice } from './weights';
import type { LoraLayout } from '../train/lora';
import type { SavedModule } from '../train/peft';
import { mergeLora } from '../train/merge';

export interface LoadOptions extends Partial<ForwardShape> {
  /** Instead of `slots`: as many sequences as fit (fitSlots), at most this many. */
  maxSlots?: number;
  /** With maxSlots: the KV-cache bytes allowed (default KV_BUDGET). */
  kvBudget?: number;
  weightDtype?: WeightDtypeChoice;
  onProgress?: ProgressFn;
  /** Cap on one weight chunk's bytes (below the device limit); tests use it to force splitting. */
  maxChunkBytes?: number;
  /** Skip loading tokenizer files. */
  noTokenizer?: boolean;
}

export class LoadedModel {
  readonly generator: Generator;
  constructor(
    readonly gpu: Gpu,
    readonly config: ModelConfig,
    readonly weights: GpuWeights,
    readonly forward: Forward,
    readonly tokenizer: Tokenizer | null,
    readonly source: ModelSource,
  ) {
    this.generator = new Generator(forward);
  }

  private adapterBuf: GPUBuffer | null = null;
  private merged: { layout: LoraLayout; params: GPUBuffer } | null = null;
  /** The base model's score head while an adapter's own one is in its place. */
  private baseScore: GPUBuffer | null = null;

  /**
   * Attaches a LoRA adapter for generation (replacing any attached one). Base weights stay as they
   * are, except a reward model's score head when the adapter brings its own (`score`, PEFT's
   * modules_to_save): that one is swapped in, and the base's restored on detach.
   */
  attachAdapter(layout: LoraLayout, values: Float32Array, score?: SavedModule): void {
    this.detachAdapter();
    if (score) this.swapScoreHead(score.data);
    const buf = this.gpu.device.createBuffer({
      label: 'adapter',
      size: values.byteLength,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
    });
    this.gpu.device.queue.writeBuffer(buf, 0, values);
    this.adapterBuf = buf;
    this.forward.setAdapter({ layout, params: buf });
  }

  /** Generation runs on the base model again. */
  detachAdapter(): void {
    if (this.merged) throw new Error('the adapter is merged into the weights: call unmergeAdapter() first');
    this.forward.setAdapter(null);
    this.adapterBuf?.destroy();
    this.adapterBuf = null;
    if (this.baseScore) this.restoreScoreHead(this.baseScore);
  }

  private swapScoreHead(data: Float32Array): void {
    const head = this.weights.lmHead[0];
    if (this.config.head !== 'score' || data.length * 4 !== head.buffer.size)
      throw new Error(`a score head of ${data.length} values does not fit this model`);
    const dev = this.gpu.device;
    const keep = dev.createBuffer({
      label: 'baseScore',
      size: head.buffer.size,
      usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    const enc = dev.createCommandEncoder();
    enc.copyBufferToBuffer(head.buffer, 0, keep, 0, head.buffer.size);
    dev.queue.submit([enc.finish()]);
    dev.queue.writeBuffer(head.buffer, 0, data);
    this.baseScore = keep;
  }

  private restoreScoreHead(keep: GPUBuffer): void {
    const head = this.weights.lmHead[0].buffer;
    const enc = this.gpu.device.createCommandEncoder();
    enc.copyBufferToBuffer(keep, 0, head, 0, head.size);
    this.gpu.device.queue.submit([enc.finish()]);
    keep.destroy();
    this.baseScore = null;
  }

  /** Folds the attached adapter into the (f32) base weights: faster generation, reversible by unmerge(). */
  mergeAdapter(): void {
    const a = this.forward.adapter;
    if (!a) throw new Error('no adapter attached');
    mergeLora(this.gpu, this.weights, a.layout, a.params, 1);
    this.forward.setAdapter(null);
    this.merged = { layout: a.layout, params: a.params };
  }

  /** Subtracts a merged adapter from the base weights again and re-attaches it. */
  unmergeAdapter(): void {
    if (!this.merged) throw new Error('no adapter merged');
    mergeLora(this.gpu, this.weights, this.merged.layout, this.merged.params, -1);
    this.forward.setAdapter(this.merged);
    this.merged = null;
  }

  /** EOS ids from config.json, generation_config.json and the tokenizer. */
  get eosTokenIds(): number[] {
    return [...new Set([...this.config.eosTokenIds, ...(this.tokenizer?.eosTokenIds ?? [])])];
  }

  async generate(prompts: number[][], opts: GenerateOptions = {}): Promise<Generation[]> {
    const tok = this.tokenizer;
    return this.generator.generate(prompts, {
      eosTokenIds: this.eosTokenIds,
      decode: tok ? (ids) => tok.decode(ids) : undefined,
      ...opts,
    });
  }

  /** A reward model's scores (the score head at each sequence's last token), [numLabels] per sequence. */
  async score(seqs: number[][]): Promise<number[][]> {
    if (this.config.head !== 'score')
      throw new Error('this model has no score head (it is not a *ForSequenceClassification model)');
    return (await this.forward.lastOutputs(seqs)).map((v) => Array.from(v));
  }

  /** Logits [T, V] of one sequence in a single pass (cache slot 0); for scoring and tests. */
  logits(tokens: number[]): Promise<Float32Array> {
    return this.forward.logitsFor(tokens);
  }

  destroy(): void {
    this.adapterBuf?.destroy();
    this.generator.destroy();
    this.forward.destroy();
    destroyWeights(this.weights);
  }
}

export async function loadModel(gpu: Gpu, source: ModelSource, opts: LoadOptions = {}): Promise<LoadedModel> {
  const ck = await loadCheckpoint(source, opts.onProgress);
  const tokenizer = opts.noTokenizer ? null : await loadTokenizer(source);
  const wt = chooseWeightType(ck, opts.weightDtype);
  const weights = uploadWeights(gpu, ck, wt, opts.maxChunkBytes);
  const cfg = ck.config;
  const maxLen = Math.min(opts.maxLen ?? 1024, cfg.maxPositions);
  const shape: ForwardShape = {
    slots: opts.slots ?? (opts.maxSlots ? fitSlots(gpu, cfg, maxLen, opts.maxSlots, opts.kvBudget) : 8),
    maxLen,
    maxRows: opts.maxRows ?? 256,
    maxOut: opts.maxOut,
  };
  const forward = new Forward(gpu, cfg, weights, shape);
  return new LoadedModel(gpu, cfg, weights, forward, tokenizer, source);
}

/** Bytes of KV cache the engine allows itself when it sizes batches (all layers, keys and values). */
export const KV_BUDGET = 1 << 30;

/**
 * The most sequences, at most `want`, that generate together: each layer's key (and value) cache
 * [S, nKV, maxLen, hd] must fit one binding of this device, and all caches together KV_BUDGET.
 */
export function fitSlots(gpu: Gpu, cfg: ModelConfig, maxLen: number, want: number, budget = KV_BUDGET): number {
  const perSlot = cfg.kvHeads * maxLen * cfg.headDim * 4; // one layer's keys of one sequence
  const lim = gpu.device.limits;
  const byBinding = Math.floor(Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize) / perSlot);
  const byBudget = Math.floor(budget / (2 * cfg.layers * perSlot));
  return Math.max(1, Math.min(want, byBinding, byBudget));
}
