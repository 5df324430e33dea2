// The training graph: the forward pass over a padded batch, keeping what the backward needs, and
// the backward pass that turns per-token coefficients ∂loss/∂logp into LoRA gradients (and, with
// full training, gradients of every weight). Base weights are otherwise frozen.
// The layer is model/block.ts's definition: the forward records its ops in order, the backward
// walks the same list in reverse, each op's gradient written once in `recordOpBackward`.
//
// Legend: S sequences × T positions, N = S·T rows (row = s·T + p), H hidden, nH/nKV heads,
// hd head dim, I MLP width, V vocab, r LoRA rank.

import { UsageError } from '../errors';
import type { Gpu } from '../gpu/device';
import { type PassSizes, Resources, type Tape } from '../gpu/tape';
import { blockOps, type BlockOp, linearDims, linearWeights, type Tensor } from '../model/block';
import type { ModelConfig } from '../model/config';
import type { GpuWeights } from '../engine/weights';
import { ropeTable } from '../engine/rope';
import { attentionBackward, attentionForward } from '../ops/attention';
import { type EmbeddingRows, embeddingBackward, embeddingForward, writeEmbeddingRows } from '../ops/embedding';
import { linearBiasGrad, linearForward, linearInputGrad, linearWeightGrad } from '../ops/linear';
import { logprobBackward, logprobForward } from '../ops/logprob';
import { loraBackward, loraForward } from '../ops/lora';
import { rmsnormBackward, rmsnormForward } from '../ops/rmsnorm';
import { ropeKvBackward, ropeKvForward } from '../ops/rope-kv';
import { swigluBackward, swigluForward } from '../ops/swiglu';
import type { FullParams } from './full';
import type { LoraLayout, LoraState, Target } from './lora';

export interface TrainShape {
  seqs: number; // S
  seqLen: number; // T
  /** Rows of logits held at once (a multiple of 64); default: what fits in 64 MiB. */
  logitRows?: number;
  /**
   * Activation checkpointing: keep only each layer's input and recompute the layer's forward
   * right before its backward — one extra forward per step, and activation memory of one layer
   * instead of all. Default (unset): recompute only when keeping every layer's activations
   * would take more than KEEP_ALL_BYTES (see `recomputes`).
   */
  recompute?: boolean;
}

/** Activations up to this size are all kept (no recomputation: a step costs one forward less). */
export const KEEP_ALL_BYTES = 256 * 2 ** 20;

/** Whether a graph of this shape recomputes activations: as asked, else only past KEEP_ALL_BYTES. */
export function recomputes(cfg: ModelConfig, shape: TrainShape, r: number, targets: number): boolean {
  return shape.recompute ?? trainGraphBytes(cfg, { ...shape, recompute: false }, r, targets) > KEEP_ALL_BYTES;
}

/** GPU bytes a TrainGraph allocates (its buffers, not the weights or the LoRA state), computed
 *  without allocating: the README's memory figures come from here and a test holds it to the real graph. */
export function trainGraphBytes(cfg: ModelConfig, shape: TrainShape, r: number, targets: number): number {
  const { hidden: H, heads: nH, kvHeads: nKV, headDim: hd, intermediate: I, layers: L } = cfg;
  const V = headRows(cfg);
  const { seqs: S, seqLen: T } = shape;
  const N = S * T;
  const Rc = shape.logitRows ?? defaultLogitRows(cfg, N);
  const perLayerActs = N * (2 + 3 * H + 2 * nH * hd + 2 * nKV * hd + nH * T + 3 * I + targets * r);
  const layersKept = recomputes(cfg, shape, r, targets) ? 1 : L;
  const inputs = 5 + 2 + 1; // ids, targets, coef, logp, logitSum; rows; starts
  const scratch = 2 * nKV * hd + r + 1 + 1 + H + 1; // k, v rows; dLoraT; ones; final rstd, xn; lse
  const grads = 2 * H + 2 * nH * hd + nH * T + 4 * nKV * hd + 3 * I;
  const shared = N * (inputs + scratch + grads) + T * hd + 2 * Rc * V;
  return 4 * ((L + 1) * N * H + layersKept * perLayerActs + shared);
}

function defaultLogitRows(cfg: ModelConfig, N: number): number {
  const rows = Math.max(64, Math.floor((64 * 2 ** 20) / (headRows(cfg) * 4) / 64) * 64);
  // a reward model's scores [N, 1] are read back whole: one chunk
  return cfg.head === 'score' ? Math.ceil(N / 64) * 64 : Math.min(rows, Math.ceil(N / 64) * 64);
}

/** Outputs of the head: the vocabulary (causal LM) or the score labels (reward model). */
const headRows = (cfg: ModelConfig) => (cfg.head === 'score' ? cfg.numLabels : cfg.vocab);

/** A layer's saved activations, by block tensor name; x and xOut are the residual stream's
 *  layer boundaries, k and v rows scratch shared by all layers. `lora`: x·Aᵀ per adapted linear. */
type Saved = Exclude<Tensor, 'x' | 'xOut' | 'k' | 'v' | 'qn' | 'kn'>;
type LayerActs = Record<Saved, GPUBuffer> & { lora: Map<Target, GPUBuffer> };

/** Gradient buffers, shared by every layer: the residual stream's three names share `dx`. */
type Grads = Record<Exclude<Tensor, 'qn' | 'kn' | 'rstd1' | 'rstd2' | 'att'>, GPUBuffer> & {
  dscores: GPUBuffer; // [N, nH, T]
  dLoraT: GPUBuffer; // [N, r]
};

export class TrainGraph {
  readonly N: number;
  readonly ids: GPUBuffer; // [N] u32 input tokens
  readonly targets: GPUBuffer; // [N] u32 next token, 0xffffffff outside the completion
  readonly coef: GPUBuffer; // [N] f32 ∂loss/∂logp per row
  readonly logp: GPUBuffer; // [N] f32 log-prob of each row's target
  readonly logitSum: GPUBuffer; // [N] f32 Σ_v logits of each scored row (0 elsewhere), for TRL's logits/… metrics
  private readonly starts: GPUBuffer; // [N] u32 position where each row's conversation begins
  private readonly rowPos: GPUBuffer; // [N, 2] u32 (sequence, position)
  private readonly cosSin: GPUBuffer; // [T, hd/2, 2]
  private readonly ones: GPUBuffer; // [N] for bias gradients
  private readonly res: Resources;
  private readonly fwd: Tape;
  private readonly bwd: Tape;
  private readonly xs: GPUBuffer[]; // [L+1] × [N, H] residual stream at each layer boundary
  private readonly acts: LayerActs[];
  private readonly layerFwd: Tape[] = [];
  private readonly grads: Grads;
  private readonly kRows: GPUBuffer; // [N, nKV, hd] k before RoPE (the caches keep it after)
  private readonly vRows: GPUBuffer; // [N, nKV, hd]
  private readonly rstdF: GPUBuffer; // [N] the final norm's saved 1/rms
  private readonly xnF: GPUBuffer; // [N, H] the final norm's output
  /** Reward models: the score of every row [N] (the head's output; a sequence's score is its last row's). */
  scores?: GPUBuffer;
  private emb?: EmbeddingRows;
  /** Whether each layer's forward is recomputed before its backward (TrainShape.recompute, resolved). */
  readonly recompute: boolean;

  /**
   * `lora`/`state`: the adapter being trained (null: none). `full`: also accumulate gradients
   * for every base weight (full-parameter training of small f32 models).
   */
  constructor(
    readonly gpu: Gpu,
    readonly cfg: ModelConfig,
    readonly weights: GpuWeights,
    readonly lora: LoraLayout | null,
    readonly state: LoraState | null,
    readonly shape: TrainShape,
    readonly full?: FullParams,
  ) {
    if (cfg.qkNorm || (cfg.head === 'score' && cfg.numLabels !== 1))
      throw new UsageError(
        'training supports Llama and Qwen2 causal LMs and their one-label reward models',
        'Qwen3 (q/k norm) models and multi-label classifiers can be used for generation and judging, not trained.',
      );
    const { seqs: S, seqLen: T } = shape;
    const N = (this.N = S * T);
    const res = (this.res = new Resources(gpu, { decode: false }));
    this.ids = res.buffer('ids[N]', N);
    this.targets = res.buffer('targets[N]', N);
    this.coef = res.buffer('coef[N]', N);
    this.logp = res.buffer('logp[N]', N);
    this.logitSum = res.buffer('logitSum[N]', N);
    this.rowPos = res.buffer('rows[N,2]', 2 * N);
    this.starts = res.buffer('attentionStarts[N]', N); // per batch: where each row's conversation begins
    this.cosSin = res.buffer('ropeCosSin[T,hd/2,2]', T * cfg.headDim);
    this.ones = res.buffer('ones[N]', N);
    this.writeConstants();
    this.xs = Array.from({ length: cfg.layers + 1 }, (_, l) => res.buffer(`x${l}[N,H]`, N * cfg.hidden));
    this.recompute = recomputes(cfg, shape, this.r, lora?.lora.targets.length ?? 0);
    const shared = this.recompute ? this.layerActs('shared') : null;
    this.acts = Array.from({ length: cfg.layers }, (_, l) => shared ?? this.layerActs(String(l)));
    const { kvHeads: nKV, headDim: hd, hidden: H } = cfg;
    this.kRows = res.buffer('k[N,nKV,hd]', N * nKV * hd);
    this.vRows = res.buffer('v[N,nKV,hd]', N * nKV * hd);
    this.rstdF = res.buffer('rstdF[N]', N);
    this.xnF = res.buffer('xnF[N,H]', N * H);
    this.grads = this.allocGrads();
    this.fwd = res.tape();
    this.bwd = res.tape();
    this.recordForward();
    this.recordHead();
    this.recordBackward();
  }

  /** Row positions, the RoPE table and the ones vector: fixed for the graph's life. */
  private writeConstants(): void {
    const { seqLen: T } = this.shape;
    const q = this.gpu.device.queue;
    const rows = Uint32Array.from({ length: 2 * this.N }, (_, i) =>
      i % 2 === 0 ? Math.floor(i / 2 / T) : (i / 2) % T,
    );
    q.writeBuffer(this.rowPos, 0, rows);
    q.writeBuffer(this.cosSin, 0, ropeTable(T, this.cfg.headDim, this.cfg.ropeTheta));
    q.writeBuffer(this.ones, 0, new Float32Array(this.N).fill(1));
  }

  /** One layer's activations (all layers share one set under recomputation). */
  private layerActs(tag: string): LayerActs {
    const { hidden: H, heads: nH, kvHeads: nKV, headDim: hd, intermediate: I } = this.cfg;
    const N = this.N;
    const T = this.shape.seqLen;
    const b = (name: string, elems: number) => this.res.buffer(`${name}.${tag}`, elems);
    const lora = new Map<Target, GPUBuffer>();
    for (const target of this.lora?.lora.targets ?? []) lora.set(target, b(`t.${target}`, N * this.r));
    return {
      ...{ rstd1: b('rstd1', N), xn1: b('xn1', N * H), q: b('q', N * nH * hd) },
      ...{ kCache: b('kc', N * nKV * hd), vCache: b('vc', N * nKV * hd), att: b('att', N * nH * T) },
      ...{ ao: b('ao', N * nH * hd), xMid: b('xMid', N * H), rstd2: b('rstd2', N), xn2: b('xn2', N * H) },
      ...{ gate: b('gate', N * I), up: b('up', N * I), act: b('act', N * I), lora },
    };
  }

  private get r(): number {
    return this.lora?.lora.r ?? 1;
  }

  /** Gradient buffers shared by all layers. */
  private allocGrads(): Grads {
    const { hidden: H, heads: nH, kvHeads: nKV, headDim: hd, intermediate: I } = this.cfg;
    const N = this.N;
    const b = (name: string, elems: number) => this.res.buffer(name, elems);
    const dLoraT = b('dLoraT[N,r]', N * this.r);
    const dxn = b('dxn[N,H]', N * H);
    const dx = b('dx[N,H]', N * H);
    return {
      ...{ x: dx, xMid: dx, xOut: dx, xn1: dxn, xn2: dxn, dLoraT },
      ...{ ao: b('dAo[N,nH·hd]', N * nH * hd), q: b('dq[N,nH,hd]', N * nH * hd) },
      dscores: b('dS[N,nH,T]', N * nH * this.shape.seqLen),
      ...{ kCache: b('dKc[S,nKV,T,hd]', N * nKV * hd), vCache: b('dVc[S,nKV,T,hd]', N * nKV * hd) },
      ...{ k: b('dk[N,nKV,hd]', N * nKV * hd), v: b('dv[N,nKV,hd]', N * nKV * hd) },
      ...{ act: b('dAct[N,I]', N * I), gate: b('dGate[N,I]', N * I), up: b('dUp[N,I]', N * I) },
    };
  }

  /** The buffer of a block tensor in layer l. */
  private tensor(t: Tensor, l: number): GPUBuffer {
    if (t === 'x') return this.xs[l];
    if (t === 'xOut') return this.xs[l + 1];
    if (t === 'k') return this.kRows;
    if (t === 'v') return this.vRows;
    if (t === 'qn' || t === 'kn') throw new Error('training does not support q/k norm');
    return this.acts[l][t];
  }

  private grad(t: Tensor): GPUBuffer {
    const g = this.grads[t as keyof Grads];
    if (!g) throw new Error(`no gradient buffer for ${t}`);
    return g;
  }

  /** Embedding, then every layer's ops (each layer a tape of its own, replayed under recomputation). */
  private recordForward(): void {
    const { cfg, N } = this;
    const table = this.weights.embed;
    embeddingForward(this.fwd, { out: this.xs[0], ids: this.ids, table, rows: N, H: cfg.hidden, wt: this.weights.wt });
    for (let l = 0; l < cfg.layers; l++) {
      const t = this.res.tape();
      for (const op of blockOps(cfg, l)) this.recordOpForward(t, op, l);
      this.layerFwd.push(t);
      this.fwd.append(t);
    }
  }

  private attnDims() {
    const { heads: nH, kvHeads: nKV, headDim: hd } = this.cfg;
    return { nH, nKV, hd, maxLen: this.shape.seqLen };
  }

  private recordOpForward(t: Tape, op: BlockOp, l: number): void {
    const { cfg, N } = this;
    const w = this.weights.layers[l];
    const at = (name: Tensor) => this.tensor(name, l);
    const rope = { rowPos: this.rowPos, rows: N, ...this.attnDims() };
    switch (op.op) {
      case 'rmsnorm': {
        const norm = { out: at(op.out), rstd: at(op.rstd), inp: at(op.inp), weight: w[op.weight] };
        return rmsnormForward(t, { ...norm, rows: N, width: cfg.hidden, eps: cfg.rmsEps, saveRstd: true });
      }
      case 'headNorm':
        throw new Error('training does not support q/k norm');
      case 'linear':
        return this.recordLinearForward(t, op, l);
      case 'ropeKv': {
        const qkv = { q: at(op.q), k: at(op.k), v: at(op.v), kCache: at(op.kCache), vCache: at(op.vCache) };
        return ropeKvForward(t, { ...qkv, ...rope, cosSin: this.cosSin });
      }
      case 'attention': {
        const qkv = { q: at(op.q), kCache: at(op.kCache), vCache: at(op.vCache) };
        return attentionForward(t, { out: at(op.out), att: at(op.att), ...qkv, ...rope, starts: this.starts });
      }
      case 'swiglu':
        return swigluForward(t, { out: at(op.out), gate: at(op.gate), up: at(op.up), n: N * cfg.intermediate });
    }
  }

  /** out = inp·Wᵀ (+ bias) (+ residual, copied in first) (+ the adapter's delta, marked `lora`). */
  private recordLinearForward(t: Tape, op: Extract<BlockOp, { op: 'linear' }>, l: number): void {
    const { weight, bias } = linearWeights(this.weights.layers[l], l, op.target);
    const { inF, outF } = linearDims(this.cfg, op.target);
    const inp = this.tensor(op.inp, l);
    const out = this.tensor(op.out, l);
    if (op.residual) t.copy('residual', this.tensor(op.residual, l), out, this.N * outF * 4);
    const base = { out, inp, weight, bias, rows: this.N, inF, outF, wt: this.weights.wt };
    linearForward(t, { ...base, accumulate: !!op.residual });
    const m = this.lora?.get(l, op.target);
    if (!m || !this.state || !this.lora) return;
    const lt = this.res.tape();
    const AB = { A: this.state.view(this.state.params, m.A), B: this.state.view(this.state.params, m.B) };
    const tmp = this.acts[l].lora.get(op.target) as GPUBuffer;
    loraForward(lt, { out, tmp, inp, ...AB, rows: this.N, inF, outF, r: this.r, scale: this.lora.scale });
    t.append(lt, true);
  }

  /**
   * The final norm, then the LM head and log-probs in chunks of Rc rows, so [N, V] logits never
   * exist at once; with more than one chunk the backward recomputes each chunk's logits (one extra
   * LM-head matmul) instead of keeping them. One chunk's logits are still there for the backward.
   */
  private recordHead(): void {
    const { cfg, N, weights } = this;
    const { hidden: H } = cfg;
    const V = headRows(cfg);
    const Rc = this.shape.logitRows ?? defaultLogitRows(cfg, N);
    if (Rc % 64 !== 0) throw new Error(`logitRows ${Rc} must be a multiple of 64`);
    const logits = this.res.buffer('logits[Rc,V]', Rc * V);
    const dlogits = this.res.buffer('dLogits[Rc,V]', Rc * V);
    const lse = this.res.buffer('lse[N]', N);
    const norm = { out: this.xnF, rstd: this.rstdF, inp: this.xs[cfg.layers], weight: weights.finalNorm };
    rmsnormForward(this.fwd, { ...norm, rows: N, width: H, eps: cfg.rmsEps, saveRstd: true });
    const rowView = (b: GPUBuffer, c0: number, n: number) => ({ buffer: b, offset: c0 * 4, size: n * 4 });
    if (cfg.head === 'score') {
      // Reward model: the score of every row in one chunk; ∂loss/∂score (coef, non-zero at each
      // sequence's last row) is the head's output gradient itself.
      if (Rc < N) throw new Error(`a reward model's scores are one chunk: logitRows ${Rc} < ${N} rows`);
      this.scores = logits;
      this.recordLogits(this.fwd, logits, 0, N);
      this.recordHeadBackward(this.coef, 0, N);
      return;
    }
    for (let c0 = 0; c0 < N; c0 += Rc) {
      const n = Math.min(Rc, N - c0);
      const io = { logits, targets: rowView(this.targets, c0, n), lse: rowView(lse, c0, n), rows: n, V };
      this.recordLogits(this.fwd, logits, c0, n);
      logprobForward(this.fwd, { ...io, logp: rowView(this.logp, c0, n), logitSum: rowView(this.logitSum, c0, n) });
      if (N > Rc) this.recordLogits(this.bwd, logits, c0, n);
      logprobBackward(this.bwd, { ...io, dlogits, coef: rowView(this.coef, c0, n) });
      this.recordHeadBackward(dlogits, c0, n);
    }
  }

  /** logits[n, V] = xnF[c0 : c0 + n]·Eᵀ, one linear per chunk of the head's rows. */
  private recordLogits(t: Tape, logits: GPUBuffer, c0: number, n: number): void {
    const { hidden: H } = this.cfg;
    const V = headRows(this.cfg);
    for (const c of this.weights.lmHead) {
      const head = { out: logits, inp: this.xnF, weight: c.buffer, rows: n, inF: H, outF: c.rows };
      linearForward(t, { ...head, wt: this.weights.headWt, ldy: V, yOffset: c.rowStart, inpRow: c0 });
    }
  }

  /** dxnF[c0 : c0 + n] = dLogits·E (and, with full training, dE += dLogitsᵀ·xnF). */
  private recordHeadBackward(dlogits: GPUBuffer, c0: number, n: number): void {
    const { hidden: H } = this.cfg;
    const V = headRows(this.cfg);
    this.weights.lmHead.forEach((c, i) => {
      const head = { dinp: this.grads.xn1, dout: dlogits, weight: c.buffer, rows: n, inF: H, outF: c.rows };
      const at = { ldDout: V, doutOffset: c.rowStart, dinpRow: c0, accumulate: i > 0, wt: this.weights.headWt };
      linearInputGrad(this.bwd, { ...head, ...at });
    });
    const name =
      this.cfg.head === 'score'
        ? 'score.weight'
        : this.cfg.tieEmbeddings
          ? 'model.embed_tokens.weight'
          : 'lm_head.weight';
    const inp = { buffer: this.xnF, offset: c0 * H * 4, size: n * H * 4 };
    const dweight = this.full?.gradOf(name);
    if (!dweight) return;
    linearWeightGrad(this.bwd, { dweight, dout: dlogits, inp, rows: n, inF: H, outF: V, accumulate: true });
  }

  /** Final norm backward, each layer's ops in reverse, and the embedding's gradient (full). */
  private recordBackward(): void {
    const { cfg, N } = this;
    const dweight = this.full?.gradOf('model.norm.weight');
    const norm = { dinp: this.grads.x, dweight, dout: this.grads.xn1, inp: this.xs[cfg.layers] };
    rmsnormBackward(this.bwd, {
      ...norm,
      weight: this.weights.finalNorm,
      rstd: this.rstdF,
      rows: N,
      width: cfg.hidden,
      accumulate: false,
    });
    for (let l = cfg.layers - 1; l >= 0; l--) {
      // rebuild this layer's activations (the adapter included)
      if (this.recompute) this.bwd.append(this.layerFwd[l]);
      // gradients already written this layer: the first write to a tensor sets, later ones add
      const written = new Set<Tensor>(['xOut']);
      for (const op of blockOps(cfg, l).reverse()) this.recordOpBackward(op, l, written);
    }
    const dtable = this.full?.gradOf('model.embed_tokens.weight');
    if (dtable) {
      this.emb = embeddingBackward(this.bwd, { dtable, dout: this.grads.x, rows: N, H: cfg.hidden });
    }
  }

  private recordOpBackward(op: BlockOp, l: number, written: Set<Tensor>): void {
    const { cfg, N } = this;
    const w = this.weights.layers[l];
    const at = (t: Tensor) => this.tensor(t, l);
    /** The gradient of `t` as a destination: accumulate if something already wrote it. */
    const into = (t: Tensor) => {
      const accumulate = written.has(t);
      written.add(t);
      return { buf: this.grad(t), accumulate };
    };
    const dims = this.attnDims();
    switch (op.op) {
      case 'rmsnorm': {
        const d = into(op.inp);
        const saved = { inp: at(op.inp), weight: w[op.weight], rstd: at(op.rstd), dout: this.grad(op.out) };
        const dweight = this.full?.gradOf(op.hfName);
        return rmsnormBackward(this.bwd, {
          dinp: d.buf,
          dweight,
          ...saved,
          rows: N,
          width: cfg.hidden,
          accumulate: d.accumulate,
        });
      }
      case 'headNorm':
        throw new Error('training does not support q/k norm');
      case 'linear':
        return this.recordLinearBackward(op, l, into);
      case 'ropeKv': {
        const dq = this.grad(op.q); // un-rotated in place
        const dkv = { dk: into(op.k).buf, dv: into(op.v).buf };
        const dcache = { dkCache: this.grad(op.kCache), dvCache: this.grad(op.vCache) };
        return ropeKvBackward(this.bwd, {
          dq,
          ...dkv,
          ...dcache,
          rowPos: this.rowPos,
          cosSin: this.cosSin,
          rows: N,
          ...dims,
        });
      }
      case 'attention': {
        const d = { dq: into(op.q).buf, dkCache: into(op.kCache).buf, dvCache: into(op.vCache).buf };
        const saved = { q: at(op.q), kCache: at(op.kCache), vCache: at(op.vCache), att: at(op.att) };
        const rest = { dscores: this.grads.dscores, dout: this.grad(op.out), rowPos: this.rowPos, rows: N };
        return attentionBackward(this.bwd, { ...d, ...saved, ...rest, slots: this.shape.seqs, ...dims });
      }
      case 'swiglu': {
        const d = { dgate: into(op.gate).buf, dup: into(op.up).buf, dout: this.grad(op.out) };
        return swigluBackward(this.bwd, { ...d, gate: at(op.gate), up: at(op.up), n: N * cfg.intermediate });
      }
    }
  }

  /**
   * dX (=|+=) dY·W (+ the adapter's share), LoRA dA/dB accumulated, and with full training
   * dW += dYᵀ·X and db += Σ_rows dY. A residual input's gradient is dY itself: it shares dY's buffer.
   */
  private recordLinearBackward(
    op: Extract<BlockOp, { op: 'linear' }>,
    l: number,
    into: (t: Tensor) => { buf: GPUBuffer; accumulate: boolean },
  ): void {
    const { weight, bias, hfName } = linearWeights(this.weights.layers[l], l, op.target);
    const { inF, outF } = linearDims(this.cfg, op.target);
    const rows = this.N;
    const dout = this.grad(op.out);
    const inp = this.tensor(op.inp, l);
    const d = into(op.inp);
    linearInputGrad(this.bwd, {
      dinp: d.buf,
      dout,
      weight,
      rows,
      inF,
      outF,
      wt: this.weights.wt,
      accumulate: d.accumulate,
    });
    const m = this.lora?.get(l, op.target);
    if (m && this.state && this.lora) {
      const s = this.state;
      const AB = {
        A: s.view(s.params, m.A),
        B: s.view(s.params, m.B),
        dA: s.view(s.grads, m.A),
        dB: s.view(s.grads, m.B),
      };
      const tmp = this.acts[l].lora.get(op.target) as GPUBuffer;
      const dims = { rows, inF, outF, r: this.r, scale: this.lora.scale };
      loraBackward(this.bwd, { dinp: d.buf, dtmp: this.grads.dLoraT, dout, inp, tmp, ...AB, ...dims });
    }
    const dweight = this.full?.gradOf(`${hfName}.weight`);
    if (dweight) linearWeightGrad(this.bwd, { dweight, dout, inp, rows, inF, outF, accumulate: true });
    const dbias = bias && this.full?.gradOf(`${hfName}.bias`);
    if (dbias) linearBiasGrad(this.bwd, { dbias, dout, ones: this.ones, rows, outF });
    // the residual input's gradient is dY itself, already in place: mark it written
    if (op.residual && into(op.residual).buf !== dout)
      throw new Error(`${op.residual} and ${op.out} must share a gradient buffer`);
  }

  /** Writes a batch: input ids and next-token targets [N], the position within its sequence at which
   *  each row's conversation begins [N] (all 0 unless rows are packed; see attention.wgsl), and, with
   *  full training, the rows grouped by id. */
  writeInputs(ids: Uint32Array, targets: Uint32Array, starts = new Uint32Array(ids.length)): void {
    const q = this.gpu.device.queue;
    q.writeBuffer(this.ids, 0, ids);
    q.writeBuffer(this.targets, 0, targets);
    q.writeBuffer(this.starts, 0, starts);
    if (this.emb) writeEmbeddingRows(this.gpu.device, this.emb, ids);
  }

  private get sizes(): PassSizes {
    return { N: this.N, B: 1 };
  }

  /** Forward over the batch in `ids`/`targets` → `logp`. With lora = false the adapter is skipped
   *  (the reference model). */
  encodeForward(enc: GPUCommandEncoder, lora: boolean): void {
    this.res.record(enc, lora ? this.fwd.steps : this.fwd.steps.filter((s) => !s.lora), this.sizes);
  }

  /** Backward from `coef` (∂loss/∂logp per row) into the LoRA gradients (accumulated). Needs the
   *  forward with lora = true. */
  encodeBackward(enc: GPUCommandEncoder): void {
    this.res.record(enc, this.bwd.steps, this.sizes);
  }

  /** Bytes of the storage buffers this graph allocated. */
  get bytes(): number {
    return this.res.bytes;
  }

  destroy(): void {
    this.res.destroy();
  }
}
