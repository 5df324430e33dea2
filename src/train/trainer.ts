// DPO and SFT on a LoRA adapter. One optimizer step reads as:
//   zero grads → for each micro-batch: forward, loss gradient, backward → clip + AdamW
// The loss itself is computed on the host from the per-row log-probs (a few floats), and the
// resulting ∂loss/∂logp goes back to the GPU as per-row coefficients.

import { TpoError, UsageError } from '../errors';
import { throwIfFailed, type Gpu } from '../gpu/device';
import { Kernel } from '../gpu/kernel';
import type { ModelConfig } from '../model/config';
import type { GpuWeights } from '../engine/weights';
import { TrainGraph } from './graph';
import type { LoraLayout, LoraState } from './lora';
import type { FullParams, ParamGroup } from './full';
import { attentionStarts, scoredPositions, type Seq, type TokenizedPair } from './data';
import { learningRate, type ScheduleKind } from './schedule';
import { dpoLoss, logSigmoid } from './dpo-loss';
import { rng } from '../rng';

/** NaN or Inf in the loss or the gradients: the step is refused and the adapter left as it was. */
export class TrainingDivergedError extends TpoError {}

export interface TrainOptions {
  lr: number;
  epochs: number;
  batchSize: number; // pairs (DPO) or rows (SFT) per micro-batch
  gradAccum: number;
  maxGradNorm: number;
  weightDecay: number;
  warmupSteps: number;
  schedule: ScheduleKind;
  beta1: number;
  beta2: number;
  eps: number;
  beta: number; // DPO β
  labelSmoothing: number;
  /** Shuffle the items each epoch (as HF Trainer's sampler does), seeded by `seed` and the epoch. */
  shuffle: boolean;
  seed: number;
}

export const DEFAULT_TRAIN: TrainOptions = {
  lr: 5e-5,
  epochs: 1,
  batchSize: 2,
  gradAccum: 1,
  maxGradNorm: 1,
  weightDecay: 0,
  warmupSteps: 0,
  schedule: 'linear',
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  beta: 0.1,
  labelSmoothing: 0,
  shuffle: true,
  seed: 0,
};

/** The order of `count` items in epoch `epoch` (0-based): a seeded Fisher–Yates shuffle, or 0 … count−1. */
export function epochOrder(count: number, epoch: number, o: Pick<TrainOptions, 'shuffle' | 'seed'>): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  if (!o.shuffle) return order;
  const rand = rng((Math.imul(o.seed >>> 0, 0x9e3779b1) + epoch) >>> 0);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** TRL's DPO log keys, plus SFT's. */
export interface StepMetrics {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  grad_norm: number;
  'rewards/chosen'?: number;
  'rewards/rejected'?: number;
  'rewards/accuracies'?: number;
  'rewards/margins'?: number;
  'logps/chosen'?: number;
  'logps/rejected'?: number;
  /** Mean policy logit over the completion tokens' whole vocabulary rows, as TRL logs it. */
  'logits/chosen'?: number;
  'logits/rejected'?: number;
  /** Reward-model training (TRL's RewardTrainer names): share of pairs with r_chosen > r_rejected, mean r_c − r_r. */
  accuracy?: number;
  margin?: number;
  min_reward?: number;
  mean_reward?: number;
  max_reward?: number;
}

/** A reward-model training pair: whole sequences (prompt included) and an optional margin. */
export interface RewardPair {
  chosen: number[];
  rejected: number[];
  margin?: number;
}

const MASK = 0xffffffff;

/** What a Trainer trains and the micro-batch its graph holds. */
export interface TrainerOptions {
  /** A LoRA adapter: its layout and its GPU state (params, grads, AdamW moments). */
  lora?: { layout: LoraLayout; state: LoraState };
  /** Every weight of a small f32 model (or a reward model's score head alone). */
  full?: FullParams;
  /** Sequences a micro-batch holds (DPO and reward models: two a pair). */
  seqs: number;
  /** Positions a sequence holds (the longest sequence trained on). */
  seqLen: number;
  /** Activation checkpointing, as TrainShape's (unset: only when keeping every layer's would be too big). */
  recompute?: boolean;
  /** Rows of logits computed at once, as TrainShape's (unset: the graph's default). */
  logitRows?: number;
}

/** What a forward pass hands its backward: each sequence's summed completion log-prob and the
 *  targets it scored (MASK where a position is not scored). */
export interface ForwardPass {
  logps: number[];
  /** Each sequence's Σ over its scored positions of Σ_v logits (TRL's logits/… metrics). */
  logitSums: number[];
  targets: Uint32Array;
}

/** What `scoreSeqs` hands `backwardScores`: each sequence's score and the row it was read at. */
export interface ScorePass {
  scores: number[];
  rows: number[];
}

/**
 * Trains a LoRA adapter (`layout`/`state`), or every weight of a small f32 model (`full`), or both.
 * All optimizer-visible tensors are ParamGroups: one flat group for LoRA, one per weight for full.
 */
export class Trainer {
  readonly graph: TrainGraph;
  readonly groups: ParamGroup[];
  private sumsq: Kernel;
  private adam: Kernel;
  private partial: GPUBuffer;
  private readback: GPUBuffer;
  private adamParams: GPUBuffer[];
  private adamStep = 0;
  private static readonly SLOT = 256; // partial sums per group (one per workgroup)
  /** Threads a workgroup of the adamw shader's entries (its @workgroup_size). */
  private static readonly WORKGROUP = 256;
  /** WebGPU's default maxComputeWorkgroupsPerDimension: a longer group's AdamW steps spill into y. */
  private static readonly MAX_GROUPS_X = 65535;

  readonly layout: LoraLayout | null;
  readonly state: LoraState | null;
  readonly full?: FullParams;
  /** Sequences a micro-batch holds (DPO and reward models: two a pair). */
  readonly seqs: number;
  /** Positions a sequence holds. */
  readonly seqLen: number;

  constructor(
    readonly gpu: Gpu,
    readonly cfg: ModelConfig,
    weights: GpuWeights,
    o: TrainerOptions,
  ) {
    const layout = (this.layout = o.lora?.layout ?? null);
    const state = (this.state = o.lora?.state ?? null);
    const full = (this.full = o.full);
    this.seqs = o.seqs;
    this.seqLen = o.seqLen;
    const shape = { recompute: o.recompute, logitRows: o.logitRows, seqs: o.seqs, seqLen: o.seqLen };
    const dev = gpu.device;
    this.graph = new TrainGraph(gpu, cfg, weights, layout, state, shape, full);
    this.groups = [
      ...(state && layout
        ? [{ name: 'lora', params: state.params, grads: state.grads, m: state.m, v: state.v, length: layout.length }]
        : []),
      ...(full?.groups ?? []),
    ];
    if (!this.groups.length) throw new UsageError('nothing to train: give a LoRA adapter or full-parameter training');
    this.sumsq = new Kernel(dev, 'adamw', { entry: 'sumsq' });
    this.adam = new Kernel(dev, 'adamw', { entry: 'step' });
    const slots = this.groups.length * Trainer.SLOT;
    this.partial = dev.createBuffer({
      label: 'gradNormPartial',
      size: 4 * slots,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    this.readback = dev.createBuffer({
      label: 'trainReadback',
      size: 4 * Math.max(2 * this.graph.N, slots), // a forward reads logp and logitSum at once
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.adamParams = this.groups.map((g) => this.adam.uniform(this.adamValues(g.length, 0, 1, DEFAULT_TRAIN)));
  }

  private adamValues(n: number, lr: number, gradScale: number, o: TrainOptions) {
    const t = Math.max(1, this.adamStep);
    return {
      n,
      lr,
      beta1: o.beta1,
      beta2: o.beta2,
      eps: o.eps,
      weightDecay: o.weightDecay,
      bc1: 1 - o.beta1 ** t,
      bc2: 1 - o.beta2 ** t,
      gradScale,
    };
  }

  /** The first `count` floats of each buffer, back to back, in one copy and one map. */
  private async read(src: GPUBuffer | GPUBuffer[], count: number): Promise<Float32Array> {
    const srcs = Array.isArray(src) ? src : [src];
    const bytes = count * 4 * srcs.length;
    const enc = this.gpu.device.createCommandEncoder();
    srcs.forEach((b, i) => enc.copyBufferToBuffer(b, 0, this.readback, i * count * 4, count * 4));
    this.gpu.device.queue.submit([enc.finish()]);
    await this.readback.mapAsync(GPUMapMode.READ, 0, bytes);
    const out = new Float32Array(this.readback.getMappedRange(0, bytes).slice(0));
    this.readback.unmap();
    throwIfFailed(this.gpu);
    return out;
  }

  /** Writes sequences (padded to seqs × seqLen); returns each sequence's summed completion log-prob. */
  async forward(batch: Seq[], lora: boolean): Promise<ForwardPass> {
    const { seqs: S, seqLen: T } = this;
    if (batch.length > S) throw new UsageError(`micro-batch of ${batch.length} sequences exceeds ${S}`);
    const ids = new Uint32Array(S * T);
    const targets = new Uint32Array(S * T).fill(MASK);
    const starts = new Uint32Array(S * T);
    batch.forEach((s, b) => {
      if (s.ids.length > T) throw new UsageError(`sequence of ${s.ids.length} tokens exceeds ${T}`);
      ids.set(s.ids, b * T);
      starts.set(attentionStarts(s), b * T);
      for (const p of scoredPositions(s)) targets[b * T + p] = s.ids[p + 1];
    });
    const dev = this.gpu.device;
    this.graph.writeInputs(ids, targets, starts);
    const enc = dev.createCommandEncoder();
    this.graph.encodeForward(enc, lora);
    dev.queue.submit([enc.finish()]);
    const both = await this.read([this.graph.logp, this.graph.logitSum], S * T);
    const perSeq = (v: Float32Array) => batch.map((_, b) => v.subarray(b * T, (b + 1) * T).reduce((a, x) => a + x, 0));
    return { logps: perSeq(both.subarray(0, S * T)), logitSums: perSeq(both.subarray(S * T)), targets };
  }

  /** Backward after `pass` with ∂loss/∂(sequence log-prob) per sequence, spread over its completion rows. */
  backward(pass: ForwardPass, dSeq: number[]): void {
    const { seqLen: T } = this;
    const coef = new Float32Array(this.seqs * T);
    dSeq.forEach((d, b) => {
      for (let p = 0; p < T; p++) if (pass.targets[b * T + p] !== MASK) coef[b * T + p] = d;
    });
    const dev = this.gpu.device;
    dev.queue.writeBuffer(this.graph.coef, 0, coef);
    const enc = dev.createCommandEncoder();
    this.graph.encodeBackward(enc);
    dev.queue.submit([enc.finish()]);
  }

  zeroGrad(): void {
    const enc = this.gpu.device.createCommandEncoder();
    for (const g of this.groups) enc.clearBuffer(g.grads);
    this.gpu.device.queue.submit([enc.finish()]);
  }

  /** Global-norm clipping and one AdamW update of every group. Returns the pre-clip gradient norm. */
  async optimizerStep(lr: number, o: TrainOptions): Promise<number> {
    const dev = this.gpu.device;
    const enc = dev.createCommandEncoder();
    enc.clearBuffer(this.partial);
    const pass = enc.beginComputePass();
    pass.setPipeline(this.sumsq.pipeline);
    this.groups.forEach((g, i) => {
      const view = { buffer: this.partial, offset: i * Trainer.SLOT * 4, size: Trainer.SLOT * 4 };
      pass.setBindGroup(0, this.sumsq.bind(this.groupUniform(i, g.length, o), { grads: g.grads, partial: view }));
      pass.dispatchWorkgroups(Math.min(Trainer.SLOT, Math.ceil(g.length / Trainer.WORKGROUP)));
    });
    pass.end();
    dev.queue.submit([enc.finish()]);
    const norm = Math.sqrt(
      (await this.read(this.partial, this.groups.length * Trainer.SLOT)).reduce((a, v) => a + v, 0),
    );
    if (!Number.isFinite(norm))
      throw new TrainingDivergedError(
        `gradient norm is ${norm}`,
        'The step was skipped and the weights are unchanged: lower the learning rate or check the data.',
      );
    this.adamStep++;
    const clip = o.maxGradNorm > 0 && norm > o.maxGradNorm ? o.maxGradNorm / (norm + 1e-6) : 1;
    const enc2 = dev.createCommandEncoder();
    const p2 = enc2.beginComputePass();
    p2.setPipeline(this.adam.pipeline);
    this.groups.forEach((g, i) => {
      this.adam.update(this.adamParams[i], this.adamValues(g.length, lr, clip, o));
      p2.setBindGroup(0, this.adam.bind(this.adamParams[i], { params: g.params, grads: g.grads, m: g.m, v: g.v }));
      const groups = Math.ceil(g.length / Trainer.WORKGROUP);
      const x = Math.min(groups, Trainer.MAX_GROUPS_X);
      p2.dispatchWorkgroups(x, Math.ceil(groups / x));
    });
    p2.end();
    dev.queue.submit([enc2.finish()]);
    return norm;
  }

  /** The per-group uniform (n = group length) used by the norm reduction. */
  private groupUniform(i: number, n: number, o: TrainOptions): GPUBuffer {
    this.adam.update(this.adamParams[i], this.adamValues(n, 0, 1, o));
    return this.adamParams[i];
  }

  /** Reference log-probs (adapter off, or the values given) for every pair, computed once. */
  async referenceLogps(
    pairs: TokenizedPair[],
    o: TrainOptions,
    refAdapter?: Float32Array,
    current?: Float32Array,
  ): Promise<[number, number][]> {
    if (refAdapter) this.state!.load(refAdapter);
    const out: [number, number][] = [];
    for (let i = 0; i < pairs.length; i += o.batchSize) {
      const chunk = pairs.slice(i, i + o.batchSize);
      const lp = (
        await this.forward(
          chunk.flatMap((p) => [p.chosen, p.rejected]),
          !!refAdapter,
        )
      ).logps;
      chunk.forEach((_, j) => out.push([lp[2 * j], lp[2 * j + 1]]));
    }
    if (refAdapter && current) this.state!.load(current);
    return out;
  }

  /**
   * The step loop shared by DPO and SFT: for each optimizer step over `batchSize × gradAccum`
   * items (each epoch in its own seeded order, epochOrder): zero grads → each micro-batch's forward, loss and
   * backward (`micro`, returning metric sums) → clip + AdamW → `onStep` with the metrics `finish` names.
   * Awaits onEpoch (1-based) after the last step of every epoch.
   */
  private async loop(
    count: number,
    o: TrainOptions,
    micro: (batch: number[], step: number[]) => Promise<Record<string, number>>,
    finish: (sums: Record<string, number>, step: number[]) => Partial<StepMetrics>,
    onStep: (m: StepMetrics) => void,
    onEpoch?: (epoch: number) => Promise<void>,
  ): Promise<void> {
    const perStep = o.batchSize * o.gradAccum;
    const stepsPerEpoch = Math.ceil(count / perStep);
    const total = stepsPerEpoch * o.epochs;
    let order: number[] = [];
    for (let step = 0; step < total; step++) {
      const epoch = Math.floor(step / stepsPerEpoch);
      if (step % stepsPerEpoch === 0) order = epochOrder(count, epoch, o);
      const start = (step % stepsPerEpoch) * perStep;
      const idx = order.slice(start, start + perStep);
      const sums: Record<string, number> = {};
      this.zeroGrad();
      for (let i = 0; i < idx.length; i += o.batchSize) {
        for (const [k, v] of Object.entries(await micro(idx.slice(i, i + o.batchSize), idx)))
          sums[k] = (sums[k] ?? 0) + v;
      }
      const lr = learningRate(step, total, o.lr, o.warmupSteps, o.schedule);
      const grad_norm = await this.optimizerStep(lr, o);
      const at = { step: step + 1, epoch: epoch + ((step % stepsPerEpoch) + 1) / stepsPerEpoch };
      onStep({ ...at, loss: 0, ...finish(sums, idx), lr, grad_norm });
      if ((step + 1) % stepsPerEpoch === 0) await onEpoch?.(epoch + 1);
    }
  }

  /** DPO (sigmoid loss, TRL semantics; train/dpo-loss.ts). Calls onStep after every optimizer
   *  step and awaits onEpoch (1-based) after the last step of every epoch, e.g. to evaluate a checkpoint. */
  async dpo(
    pairs: TokenizedPair[],
    ref: [number, number][],
    o: TrainOptions,
    onStep: (m: StepMetrics) => void,
    onEpoch?: (epoch: number) => Promise<void>,
  ): Promise<void> {
    if (2 * o.batchSize > this.seqs)
      throw new UsageError(
        `batch of ${o.batchSize} pairs needs ${2 * o.batchSize} sequences; the graph holds ${this.seqs}`,
      );
    const micro = async (batch: number[], step: number[]) => {
      const pass = await this.forward(
        batch.flatMap((k) => [pairs[k].chosen, pairs[k].rejected]),
        true,
      );
      const lp = pass.logps;
      const ls = pass.logitSums;
      const sums = { loss: 0, chosen: 0, rejected: 0, accuracy: 0, chosenLogp: 0, rejectedLogp: 0 };
      const logits = { chosenLogits: 0, rejectedLogits: 0, chosenTokens: 0, rejectedTokens: 0 };
      const dSeq: number[] = [];
      batch.forEach((k, j) => {
        const logps = {
          chosenLogp: lp[2 * j],
          rejectedLogp: lp[2 * j + 1],
          refChosenLogp: ref[k][0],
          refRejectedLogp: ref[k][1],
        };
        const d = dpoLoss(logps, o.beta, o.labelSmoothing);
        if (!Number.isFinite(d.loss))
          throw new TrainingDivergedError(
            `DPO loss is ${d.loss} at pair ${k + 1}`,
            'The adapter is unchanged: lower the learning rate.',
          );
        dSeq.push(d.dChosenLogp / step.length, d.dRejectedLogp / step.length);
        sums.loss += d.loss;
        sums.chosen += d.chosenReward;
        sums.rejected += d.rejectedReward;
        sums.accuracy += d.chosenReward > d.rejectedReward ? 1 : 0;
        sums.chosenLogp += logps.chosenLogp;
        sums.rejectedLogp += logps.rejectedLogp;
        logits.chosenLogits += ls[2 * j];
        logits.rejectedLogits += ls[2 * j + 1];
        logits.chosenTokens += scoredPositions(pairs[k].chosen).length;
        logits.rejectedTokens += scoredPositions(pairs[k].rejected).length;
      });
      this.backward(pass, dSeq);
      return { ...sums, ...logits };
    };
    const finish = (m: Record<string, number>, step: number[]): Partial<StepMetrics> => {
      const n = step.length;
      return {
        loss: m.loss / n,
        'rewards/chosen': m.chosen / n,
        'rewards/rejected': m.rejected / n,
        'rewards/accuracies': m.accuracy / n,
        'rewards/margins': (m.chosen - m.rejected) / n,
        'logps/chosen': m.chosenLogp / n,
        'logps/rejected': m.rejectedLogp / n,
        'logits/chosen': m.chosenLogits / (m.chosenTokens * this.cfg.vocab),
        'logits/rejected': m.rejectedLogits / (m.rejectedTokens * this.cfg.vocab),
      };
    };
    await this.loop(pairs.length, o, micro, finish, onStep, onEpoch);
  }

  /** Writes whole sequences (padded) and returns each one's score: the reward head at its last token. */
  async scoreSeqs(batch: number[][]): Promise<ScorePass> {
    const { seqs: S, seqLen: T } = this;
    const scores = this.graph.scores;
    if (!scores) throw new UsageError('scores need a reward model (*ForSequenceClassification)');
    if (batch.length > S) throw new UsageError(`micro-batch of ${batch.length} sequences exceeds ${S}`);
    const ids = new Uint32Array(S * T);
    batch.forEach((s, b) => {
      if (!s.length || s.length > T) throw new UsageError(`a sequence of ${s.length} tokens (1 … ${T} allowed)`);
      ids.set(s, b * T);
    });
    const dev = this.gpu.device;
    this.graph.writeInputs(ids, new Uint32Array(S * T).fill(MASK));
    const enc = dev.createCommandEncoder();
    this.graph.encodeForward(enc, true);
    dev.queue.submit([enc.finish()]);
    const all = await this.read(scores, S * T);
    const rows = batch.map((s, b) => b * T + s.length - 1);
    return { scores: rows.map((r) => all[r]), rows };
  }

  /** Backward after `pass` (a `scoreSeqs`) with ∂loss/∂score per sequence (set at its last row). */
  backwardScores(pass: ScorePass, dScore: number[]): void {
    const coef = new Float32Array(this.seqs * this.seqLen);
    dScore.forEach((d, b) => (coef[pass.rows[b]] = d));
    const dev = this.gpu.device;
    dev.queue.writeBuffer(this.graph.coef, 0, coef);
    const enc = dev.createCommandEncoder();
    this.graph.encodeBackward(enc);
    dev.queue.submit([enc.finish()]);
  }

  /**
   * Reward-model training as TRL's RewardTrainer: each pair's loss −log σ(r_c − r_r − margin),
   * averaged over the step's pairs; logs loss, accuracy (r_c > r_r), margin (mean r_c − r_r) and
   * the step's min / mean / max reward.
   */
  async rm(pairs: RewardPair[], o: TrainOptions, onStep: (m: StepMetrics) => void): Promise<void> {
    if (2 * o.batchSize > this.seqs)
      throw new UsageError(
        `batch of ${o.batchSize} pairs needs ${2 * o.batchSize} sequences; the graph holds ${this.seqs}`,
      );
    let [min, max] = [Infinity, -Infinity]; // over the step's micro-batches
    const micro = async (batch: number[], step: number[]) => {
      const pass = await this.scoreSeqs(batch.flatMap((k) => [pairs[k].chosen, pairs[k].rejected]));
      const r = pass.scores;
      const sums = { loss: 0, accuracy: 0, margin: 0, reward: 0 };
      const dScore: number[] = [];
      batch.forEach((k, j) => {
        const [rc, rr] = [r[2 * j], r[2 * j + 1]];
        const z = rc - rr - (pairs[k].margin ?? 0);
        const loss = -logSigmoid(z);
        if (!Number.isFinite(loss))
          throw new TrainingDivergedError(`reward loss is ${loss} at pair ${k + 1}`, 'Lower the learning rate.');
        const g = -Math.exp(logSigmoid(-z)) / step.length; // ∂loss/∂r_c = −σ(−z), averaged over the step
        dScore.push(g, -g);
        sums.loss += loss;
        sums.accuracy += rc > rr ? 1 : 0;
        sums.margin += rc - rr;
        sums.reward += rc + rr;
        [min, max] = [Math.min(min, rc, rr), Math.max(max, rc, rr)];
      });
      this.backwardScores(pass, dScore);
      return sums;
    };
    const finish = (m: Record<string, number>, step: number[]): Partial<StepMetrics> => {
      const out = { min_reward: min, max_reward: max };
      [min, max] = [Infinity, -Infinity];
      return {
        ...{ loss: m.loss / step.length, accuracy: m.accuracy / step.length, margin: m.margin / step.length },
        ...{ mean_reward: m.reward / (2 * step.length), ...out },
      };
    };
    await this.loop(pairs.length, o, micro, finish, onStep);
  }

  /** SFT: mean token NLL over the completion tokens of each optimizer step. */
  async sft(rows: Seq[], o: TrainOptions, onStep: (m: StepMetrics) => void): Promise<void> {
    if (o.batchSize > this.seqs)
      throw new UsageError(`batch of ${o.batchSize} rows exceeds the graph's ${this.seqs} sequences`);
    const tokensOf = (step: number[]) => step.reduce((a, k) => a + scoredPositions(rows[k]).length, 0);
    const micro = async (batch: number[], step: number[]) => {
      const pass = await this.forward(
        batch.map((k) => rows[k]),
        true,
      );
      const nll = -pass.logps.reduce((a, v) => a + v, 0);
      if (!Number.isFinite(nll))
        throw new TrainingDivergedError(`SFT loss is ${nll}`, 'The adapter is unchanged: lower the learning rate.');
      const tokens = tokensOf(step);
      this.backward(
        pass,
        batch.map(() => -1 / tokens),
      );
      return { nll };
    };
    await this.loop(rows.length, o, micro, (m, step) => ({ loss: m.nll / tokensOf(step) }), onStep);
  }

  destroy(): void {
    this.graph.destroy();
    for (const b of [this.partial, this.readback, ...this.adamParams]) b.destroy();
  }
}
