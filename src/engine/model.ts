// Loading a model onto the GPU: source → checkpoint → weights → forward plan → generator.

import type { Gpu } from '../gpu/device';
import { loadCheckpoint } from '../model/checkpoint';
import type { ModelConfig } from '../model/config';
import type { ModelSource, ProgressFn } from '../model/source';
import { loadTokenizer, type Tokenizer } from '../model/tokenizer';
import { Forward, type ForwardShape } from './forward';
import { Generator, type GenerateOptions, type Generation } from './generate';
import { chooseWeightType, destroyWeights, uploadWeights, type GpuWeights, type WeightDtypeChoice } from './weights';

export interface LoadOptions extends Partial<ForwardShape> {
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

  destroy(): void {
    this.generator.destroy();
    this.forward.destroy();
    destroyWeights(this.weights);
  }
}

export async function loadModel(gpu: Gpu, source: ModelSource, opts: LoadOptions = {}): Promise<LoadedModel> {
  const ck = await loadCheckpoint(source, opts.onProgress);
  const tokenizer = opts.noTokenizer ? null : await loadTokenizer(source);
  const wt = chooseWeightType(gpu, ck, opts.weightDtype);
  const weights = uploadWeights(gpu, ck, wt, opts.maxChunkBytes);
  const cfg = ck.config;
  const shape: ForwardShape = {
    slots: opts.slots ?? 8,
    maxLen: Math.min(opts.maxLen ?? 1024, cfg.maxPositions),
    maxRows: opts.maxRows ?? 256,
    maxOut: opts.maxOut,
  };
  const forward = new Forward(gpu, cfg, weights, shape);
  return new LoadedModel(gpu, cfg, weights, forward, tokenizer, source);
}
