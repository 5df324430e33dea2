// The transformer forward pass as a recorded plan over preallocated buffers (inference).
// Every step processes N rows (tokens); row r is token ids[r] of cache slot rows[2r] at position
// rows[2r+1], so one pass serves a ragged prefill of many prompts or one decode token per sequence.
// Causality comes from each row attending to cache positions ≤ its own.
// The layer is model/block.ts's definition, recorded here with one KV cache per layer. Pipelines,
// buffers and bind groups are made once; a step only writes the small per-step inputs (ids, rows,
// lastIdx, seqs, sizes) and replays the plan.
//
// Legend: N rows this step (≤ maxRows), B outputs this step (≤ maxOut), H hidden, nH/nKV heads,
// hd head dim, I MLP width, V vocab, S cache slots, T maxLen (cache positions).

import { blockOps, type BlockOp, linearDims, linearWeights, type Tensor } from '../model/block';
import type { ModelConfig } from '../model/config';
import type { Gpu } from '../gpu/device';
import { readF32 } from '../gpu/readback';
import { flatten, type PassSizes, Resources, type Step, type Tape } from '../gpu/tape';
import type { Binding } from '../gpu/kernel';
import { type DecodeOp, fuseForDecode } from './decode-fusion';
import { normGateUpForward, normQkvForward } from '../ops/norm-linear';
import { attentionForward } from '../ops/attention';
import { embeddingForward } from '../ops/embedding';
import { FEW_ROWS, linearForward } from '../ops/linear';
import { loraForward } from '../ops/lora';
import { rmsnormForward } from '../ops/rmsnorm';
import { ropeKvForward } from '../ops/rope-kv';
import { gatherRows, sampleTokens } from '../ops/sample';
import { swigluForward } from '../ops/swiglu';
import type { LoraLayout, Target } from '../train/lora';
import { ropeTable } from './rope';
import type { GpuWeights } from './weights';

/** A LoRA adapter attached to the inference pass: its layout and its flat parameter buffer. */
export interface InferenceAdapter {
  layout: LoraLayout;
  params: GPUBuffer;
}

export interface ForwardShape {
  /** Most rows (tokens) in one pass; longer prefills are split into passes. */
  maxRows: number;
  /** KV-cache slots = most sequences generated at once. */
  slots: number;
  /** Cache length T: prompt + generated tokens per sequence. */
  maxLen: number;
  /** Most rows whose logits are computed in one pass (default: slots). */
  maxOut?: number;
}

export interface Stats {
  dispatches: number;
  submits: number;
}

/** An adapter's recorded steps: by `${layer}.${target}`, and by layer for a fused q/k/v. */
interface AdapterSteps {
  sites: Map<string, Tape>;
  qkv: Map<number, Tape>;
}

/** A linear of the plan, where an adapter's steps attach. */
interface LinearSite {
  layer: number;
  target: Target;
  inp: Binding;
  out: Binding;
}

/** A decode step's fused norm + q/k/v: with an adapter on any of them, the norm's output is made
 *  for the adapter's steps, which add to q, k, v before RoPE. */
interface QkvGroup {
  layer: number;
  norm: Extract<BlockOp, { op: 'rmsnorm' }>;
  sites: LinearSite[];
}

/** The activations of one pass, shared by every layer (the KV caches are per layer). q, k and v
 *  are views of one buffer, so that the fused decode kernel writes all three. */
type Activations = Record<Exclude<Tensor, 'kCache' | 'vCache' | 'q' | 'k' | 'v'>, GPUBuffer> & {
  q: GPUBufferBinding;
  k: GPUBufferBinding;
  v: GPUBufferBinding;
  kCache: GPUBuffer[];
  vCache: GPUBuffer[];
  starts: GPUBuffer;
  cosSin: GPUBuffer;
};

/** The buffer of a block tensor in layer l. */
function tensorAt(a: Activations, t: Tensor, l: number): Binding {
  return t === 'kCache' || t === 'vCache' ? a[t][l] : a[t];
}

/** The start of a view in elements, as the fused kernel addresses it. */
const startOf = (b: Binding) => ('buffer' in b ? (b.offset ?? 0) / 4 : 0);

export class Forward {
  readonly cfg: ModelConfig;
  readonly maxOut: number;
  /** Columns of `logits`: the vocabulary, or a reward model's labels. */
  readonly outputs: number;
  readonly stats: Stats = { dispatches: 0, submits: 0 };
  // per-step inputs
  readonly ids: GPUBuffer; // [maxRows] u32
  readonly rows: GPUBuffer; // [maxRows, 2] u32 (slot, pos)
  readonly lastIdx: GPUBuffer; // [maxOut] u32: row whose logits are wanted
  readonly seqs: GPUBuffer; // [maxOut] SeqParams {seed, step, temperature, topP}
  // activations and outputs
  readonly x: GPUBuffer; // [maxRows, H] residual stream
  readonly logits: GPUBuffer; // [maxOut, V] (V = numLabels for a reward model)
  readonly tokens: GPUBuffer; // [maxOut] u32 sampled ids
  adapter: InferenceAdapter | null = null;

  private readonly res: Resources;
  private readonly plan: Tape;
  private readonly sampleTape: Tape;
  private readonly sites = new Map<string, LinearSite>();
  private readonly qkvGroups: QkvGroup[] = [];
  /** The attached adapter's steps, by `${layer}.${target}` (and by layer for a fused q/k/v). */
  private loraTapes = new Map<string, Tape>();
  private loraGroups = new Map<number, Tape>();
  /** Every adapter whose steps were recorded, and how many times that happened (tests check it). */
  private readonly prepared = new WeakMap<InferenceAdapter, AdapterSteps>();
  adapterPreparations = 0;
  private readonly noAdapter: Tape;
  private readonly loraT: GPUBuffer; // [maxRows, 64] LoRA intermediate x·Aᵀ
  private readonly acts: Activations;

  constructor(
    readonly gpu: Gpu,
    cfg: ModelConfig,
    readonly weights: GpuWeights,
    readonly shape: ForwardShape,
  ) {
    this.cfg = cfg;
    this.outputs = cfg.head === 'score' ? cfg.numLabels : cfg.vocab;
    this.maxOut = shape.maxOut ?? shape.slots;
    const res = (this.res = new Resources(gpu, { decode: true }));
    const R = shape.maxRows;
    const O = this.maxOut;
    this.ids = res.buffer('ids[R]', R);
    this.rows = res.buffer('rows[R,2]', 2 * R);
    this.lastIdx = res.buffer('lastIdx[O]', O);
    this.seqs = res.buffer('seqs[O,4]', 4 * O);
    const acts = (this.acts = this.allocate());
    this.x = acts.x;
    this.logits = res.buffer('logits[O,V]', O * this.outputs);
    this.tokens = res.buffer('tokens[O]', O);
    this.loraT = res.buffer('loraT[R,r]', R * 64);
    this.plan = res.tape();
    this.noAdapter = res.tape();
    embeddingForward(this.plan, {
      out: acts.x,
      ids: this.ids,
      table: weights.embed,
      rows: (s) => s.N,
      H: cfg.hidden,
      wt: weights.wt,
    });
    for (let l = 0; l < cfg.layers; l++) this.recordLayer(l, acts);
    this.recordHead(acts);
    this.sampleTape = res.tape();
    sampleTokens(this.sampleTape, { tokens: this.tokens, logits: this.logits, seqs: this.seqs, V: this.outputs });
  }

  /** The pass's activation buffers, sized for maxRows rows and maxOut outputs. */
  private allocate(): Activations {
    const { hidden: H, heads: nH, kvHeads: nKV, headDim: hd, intermediate: I } = this.cfg;
    const { maxRows: R, slots: S, maxLen: T } = this.shape;
    const O = this.maxOut;
    const b = (label: string, elems: number) => this.res.buffer(label, elems);
    const x = b('x[R,H]', R * H);
    const xn = b('xn[R,H]', R * H);
    const rstd = b('rstd[R·nH]', Math.max(R * nH, O));
    const cosSin = b('ropeCosSin[T,hd/2,2]', T * hd);
    this.gpu.device.queue.writeBuffer(cosSin, 0, ropeTable(T, hd, this.cfg.ropeTheta));
    const cache = (kind: string) =>
      Array.from({ length: this.cfg.layers }, (_, l) => b(`${kind}${l}[S,nKV,T,hd]`, S * nKV * T * hd));
    // q [R, nH, hd], k and v [R, nKV, hd]: blocks of one buffer, each starting 256-byte aligned
    const align = (n: number) => Math.ceil(n / 64) * 64;
    const [nq, nkv] = [R * nH * hd, R * nKV * hd];
    const qkv = b('qkv[R,(nH+2·nKV)·hd]', align(nq) + 2 * align(nkv));
    const view = (start: number, n: number) => ({ buffer: qkv, offset: 4 * start, size: 4 * n });
    return {
      ...{ x, xMid: x, xOut: x, xn1: xn, xn2: xn, rstd1: rstd, rstd2: rstd },
      ...{ q: view(0, nq), k: view(align(nq), nkv), v: view(align(nq) + align(nkv), nkv) },
      // Qwen3's per-head normed q and k (other models never name them)
      qn: this.cfg.qkNorm ? b('qNormed[R,nH,hd]', R * nH * hd) : x,
      kn: this.cfg.qkNorm ? b('kNormed[R,nKV,hd]', R * nKV * hd) : x,
      att: b('att[R,nH,T]', R * nH * T),
      ao: b('attnOut[R,nH,hd]', R * nH * hd),
      gate: b('gate[R,I]', R * I),
      up: b('up[R,I]', R * I),
      act: b('act[R,I]', R * I),
      kCache: cache('kCache'),
      vCache: cache('vCache'),
      starts: b('attentionStarts[R] (zeros: inference never packs)', R),
      cosSin,
    };
  }

  /**
   * Layer l twice: as decode steps run it (norms folded into the linears that read them, see
   * decode-fusion.ts) and as prefill passes run it (the block as written); the plan picks one by
   * the pass's row count.
   */
  private recordLayer(l: number, a: Activations): void {
    const ops = blockOps(this.cfg, l);
    const prefill = this.res.tape();
    for (const op of ops) this.recordOp(prefill, op, l, a);
    const decode = this.res.tape();
    for (const op of fuseForDecode(ops)) this.recordDecodeOp(decode, op, l, a);
    this.plan.choose('layer', (s) => (s.N <= FEW_ROWS ? decode : prefill));
  }

  /** An op of the decode step: the two fused kinds, or any other op as written. */
  private recordDecodeOp(t: Tape, op: DecodeOp, l: number, a: Activations): void {
    if (op.op === 'normQkv') return this.recordNormQkv(t, op, l, a);
    if (op.op !== 'normGateUp') return this.recordOp(t, op, l, a);
    // An adapter on gate or up adds before the SwiGLU: then the MLP's first half runs unfused.
    const unfused = this.res.tape();
    for (const o of [op.norm, op.gate, op.up, op.swiglu]) this.recordOp(unfused, o, l, a);
    const fused = this.res.tape();
    const w = this.weights.layers[l];
    const { inF: K, outF: O } = linearDims(this.cfg, op.gate.target);
    normGateUpForward(fused, {
      ...{ out: tensorAt(a, op.swiglu.out, l), inp: tensorAt(a, op.norm.inp, l), normWeight: w[op.norm.weight] },
      gate: linearWeights(w, l, op.gate.target).weight,
      up: linearWeights(w, l, op.up.target).weight,
      ...{ rows: (s: PassSizes) => s.N, K, O, eps: this.cfg.rmsEps, wt: this.weights.wt },
    });
    const adapted = () => !!(this.adapter?.layout.get(l, op.gate.target) || this.adapter?.layout.get(l, op.up.target));
    t.choose('mlp', () => (adapted() ? unfused : fused));
  }

  /** The fused norm + q/k/v of a decode step, then the adapter's steps for them (if any). */
  private recordNormQkv(t: Tape, op: Extract<DecodeOp, { op: 'normQkv' }>, l: number, a: Activations): void {
    const w = this.weights.layers[l];
    const lin = op.linears.map((x) => linearWeights(w, l, x.target));
    const outs = op.linears.map((x) => tensorAt(a, x.out, l));
    const qkvBuffer = 'buffer' in outs[0] ? outs[0].buffer : outs[0];
    if (outs.some((o) => !('buffer' in o) || o.buffer !== qkvBuffer)) throw new Error('q, k, v must share a buffer');
    const dims = op.linears.map((x) => linearDims(this.cfg, x.target));
    normQkvForward(t, {
      ...{ out: qkvBuffer, yOff: outs.map(startOf) as [number, number, number], inp: tensorAt(a, op.norm.inp, l) },
      ...{ normWeight: w[op.norm.weight], weights: lin.map((x) => x.weight) as [GPUBuffer, GPUBuffer, GPUBuffer] },
      outF: dims.map((d) => d.outF) as [number, number, number],
      bias: this.qkvBiasOf(
        l,
        lin.map((x) => x.bias),
      ),
      ...{ rows: (s: PassSizes) => s.N, K: dims[0].inF, eps: this.cfg.rmsEps, wt: this.weights.wt },
    });
    const inp = tensorAt(a, op.norm.out, l);
    const sites = op.linears.map((x, j) => this.site(l, x.target, inp, outs[j]));
    this.qkvGroups.push({ layer: l, norm: op.norm, sites });
    t.choose('lora', () => this.loraGroups.get(l) ?? this.noAdapter);
  }

  /** Layer l's q, k, v biases back to back (copied once), or none. */
  private qkvBiasOf(l: number, biases: (GPUBuffer | undefined)[]): GPUBuffer | undefined {
    if (biases.some((b) => !b)) return undefined;
    const bs = biases as GPUBuffer[];
    const all = this.res.buffer(
      `qkvBias${l}`,
      bs.reduce((n, b) => n + b.size / 4, 0),
    );
    const enc = this.gpu.device.createCommandEncoder();
    let at = 0;
    for (const b of bs) {
      enc.copyBufferToBuffer(b, 0, all, at, b.size);
      at += b.size;
    }
    this.gpu.device.queue.submit([enc.finish()]);
    return all;
  }

  /** The linear site of (layer, target), registered once for the adapter's steps. */
  private site(layer: number, target: Target, inp: Binding, out: Binding): LinearSite {
    const key = `${layer}.${target}`;
    let s = this.sites.get(key);
    if (!s) this.sites.set(key, (s = { layer, target, inp, out }));
    return s;
  }

  /** Records one op of layer l's block definition for N rows. */
  private recordOp(t: Tape, op: BlockOp, l: number, a: Activations): void {
    const cfg = this.cfg;
    const w = this.weights.layers[l];
    const N = (s: PassSizes) => s.N;
    const attn = { nH: cfg.heads, nKV: cfg.kvHeads, hd: cfg.headDim, maxLen: this.shape.maxLen };
    const buf = (t: Tensor) => tensorAt(a, t, l);
    switch (op.op) {
      case 'rmsnorm':
        return rmsnormForward(t, {
          ...{ out: buf(op.out), rstd: buf(op.rstd), inp: buf(op.inp), weight: w[op.weight] },
          ...{ rows: N, width: cfg.hidden, eps: cfg.rmsEps },
        });
      case 'headNorm': {
        const heads = cfg[op.heads === 'nH' ? 'heads' : 'kvHeads'];
        const weight = w[op.weight] as GPUBuffer;
        const rows = (s: PassSizes) => s.N * heads;
        const norm = { out: buf(op.out), rstd: a.rstd1, inp: buf(op.inp), weight, rows, width: cfg.headDim };
        return rmsnormForward(t, { ...norm, eps: cfg.rmsEps }, op.weight === 'qNorm' ? 'q_norm' : 'k_norm');
      }
      case 'linear':
        return this.recordLinear(t, op, l, a);
      case 'ropeKv':
        return ropeKvForward(t, {
          ...{ q: buf(op.q), k: buf(op.k), v: buf(op.v), kCache: buf(op.kCache), vCache: buf(op.vCache) },
          ...{ rowPos: this.rows, cosSin: a.cosSin, rows: N, ...attn },
        });
      case 'attention':
        return attentionForward(t, {
          ...{ out: buf(op.out), att: buf(op.att), q: buf(op.q), kCache: buf(op.kCache), vCache: buf(op.vCache) },
          ...{ rowPos: this.rows, starts: a.starts, rows: N, ...attn },
        });
      case 'swiglu':
        return swigluForward(t, {
          ...{ out: buf(op.out), gate: buf(op.gate), up: buf(op.up) },
          n: (s) => s.N * cfg.intermediate,
        });
    }
  }

  /** A linear of the block, and the place where an attached adapter's steps run. */
  private recordLinear(t: Tape, op: Extract<BlockOp, { op: 'linear' }>, l: number, a: Activations): void {
    const { weight, bias } = linearWeights(this.weights.layers[l], l, op.target);
    const { inF, outF } = linearDims(this.cfg, op.target);
    const inp = tensorAt(a, op.inp, l);
    const out = tensorAt(a, op.out, l);
    const residual = op.residual ? tensorAt(a, op.residual, l) : undefined;
    if (residual && residual !== out) throw new Error(`inference keeps ${op.residual} and ${op.out} in one buffer`);
    const rows = (s: PassSizes) => s.N;
    const wt = this.weights.wt;
    linearForward(t, { name: op.target, out, inp, weight, bias, rows, inF, outF, wt, accumulate: !!residual });
    const key = `${l}.${op.target}`;
    this.site(l, op.target, inp, out);
    t.choose('lora', () => this.loraTapes.get(key) ?? this.noAdapter);
  }

  /** The last rows of each output, the final norm, the LM (or score) head. */
  private recordHead(a: Activations): void {
    const { hidden: H, rmsEps } = this.cfg;
    const O = this.maxOut;
    const xLast = this.res.buffer('xLast[O,H]', O * H);
    const xLastNorm = this.res.buffer('xLastNorm[O,H]', O * H);
    gatherRows(this.plan, { out: xLast, inp: a.x, idx: this.lastIdx, H });
    const rows = (s: PassSizes) => s.B;
    const norm = { out: xLastNorm, rstd: a.rstd1, inp: xLast, weight: this.weights.finalNorm, width: H, eps: rmsEps };
    rmsnormForward(this.plan, { ...norm, rows });
    for (const c of this.weights.lmHead) {
      const head = {
        out: this.logits,
        inp: xLastNorm,
        weight: c.buffer,
        inF: H,
        outF: c.rows,
        wt: this.weights.headWt,
      };
      linearForward(this.plan, { name: 'lm_head', ...head, rows, ldy: this.outputs, yOffset: c.rowStart });
    }
  }

  /**
   * Attaches a LoRA adapter (y += (alpha/r)·B(A·x) after each target linear) or detaches it
   * (null). Base weights are untouched; the adapter's steps and bind groups are made once per
   * adapter (`prepare`), so switching between adapters, or off and on again, records nothing.
   */
  setAdapter(adapter: InferenceAdapter | null): void {
    let steps = adapter && this.prepared.get(adapter);
    if (adapter && !steps) {
      steps = this.prepare(adapter);
      this.prepared.set(adapter, steps);
    }
    this.loraTapes = steps?.sites ?? new Map();
    this.loraGroups = steps?.qkv ?? new Map();
    this.adapter = adapter;
  }

  /** One adapter's steps: a tape for every linear site it targets, and for each fused q/k/v. */
  private prepare({ layout, params }: InferenceAdapter): AdapterSteps {
    if (layout.cfg.hidden !== this.cfg.hidden || layout.cfg.layers !== this.cfg.layers)
      throw new Error('adapter layout was made for another model');
    if (layout.lora.r > 64) throw new Error(`LoRA rank ${layout.lora.r} > 64 is not supported for generation`);
    this.adapterPreparations++;
    const view = (v: { offset: number; length: number }) => ({
      buffer: params,
      offset: v.offset * 4,
      size: v.length * 4,
    });
    const record = (t: Tape, site: LinearSite) => {
      const m = layout.get(site.layer, site.target);
      if (!m) return false;
      loraForward(t, {
        ...{ out: site.out, tmp: this.loraT, inp: site.inp, A: view(m.A), B: view(m.B) },
        ...{ rows: (s) => s.N, inF: m.inF, outF: m.outF, r: layout.lora.r, scale: layout.scale },
      });
      return true;
    };
    const steps: AdapterSteps = { sites: new Map(), qkv: new Map() };
    for (const [key, site] of this.sites) {
      const t = this.res.tape();
      if (record(t, site)) steps.sites.set(key, t);
    }
    // a fused q/k/v: the norm's output first (the fused kernel never writes it), then the steps
    for (const g of this.qkvGroups) {
      const t = this.res.tape();
      this.recordOp(t, g.norm, g.layer, this.acts);
      if (g.sites.map((site) => record(t, site)).some(Boolean)) steps.qkv.set(g.layer, t);
    }
    return steps;
  }

  /** Rewrites the size uniforms when N (rows) or B (outputs) changed since the last step. */
  setSizes(N: number, B: number): void {
    if (N < 1 || N > this.shape.maxRows) throw new RangeError(`rows ${N} outside 1..${this.shape.maxRows}`);
    if (B < 1 || B > this.maxOut) throw new RangeError(`outputs ${B} outside 1..${this.maxOut}`);
    this.res.setSizes({ N, B });
  }

  /** Records the forward pass (and sampling, when `sample`) for N rows and B outputs. */
  encode(encoder: GPUCommandEncoder, N: number, B: number, sample: boolean): void {
    this.setSizes(N, B);
    const d0 = this.res.dispatches;
    const steps = sample ? [...this.plan.steps, ...this.sampleTape.steps] : this.plan.steps;
    this.res.record(encoder, steps, { N, B }, 'forward');
    this.stats.dispatches += this.res.dispatches - d0;
  }

  /** The steps a pass of these sizes runs, one dispatch each (layer variants and adapter steps expanded). */
  private flatSteps(sample: boolean, s: PassSizes): Step[] {
    return flatten(sample ? [...this.plan.steps, ...this.sampleTape.steps] : this.plan.steps, s);
  }

  /**
   * Measures one pass on the GPU with timestamp queries (device feature 'timestamp-query'):
   * every step in a pass of its own, times summed by step name, in milliseconds.
   */
  async profile(N: number, B: number, sample: boolean): Promise<Map<string, number>> {
    const dev = this.gpu.device;
    const steps = this.flatSteps(sample, { N, B });
    const qs = dev.createQuerySet({ type: 'timestamp', count: 2 * steps.length });
    const usage = GPUBufferUsage;
    const resolve = dev.createBuffer({ size: 16 * steps.length, usage: usage.QUERY_RESOLVE | usage.COPY_SRC });
    const read = dev.createBuffer({ size: 16 * steps.length, usage: usage.MAP_READ | usage.COPY_DST });
    this.setSizes(N, B);
    const enc = dev.createCommandEncoder();
    steps.forEach((s, i) => {
      const timestampWrites = { querySet: qs, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
      const pass = enc.beginComputePass({ timestampWrites });
      if (s.kind === 'pass') s.run(pass, { N, B });
      pass.end();
    });
    enc.resolveQuerySet(qs, 0, 2 * steps.length, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * steps.length);
    dev.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(read.getMappedRange());
    const out = new Map<string, number>();
    steps.forEach((s, i) => out.set(s.name, (out.get(s.name) ?? 0) + Number(t[2 * i + 1] - t[2 * i]) / 1e6));
    read.destroy();
    resolve.destroy();
    qs.destroy();
    return out;
  }

  /**
   * Head outputs [B, V] at the last token of each sequence (a reward model's scores, or next-token
   * logits), computed in prefill passes of ≤ maxRows rows; sequences run `slots` at a time.
   */
  async lastOutputs(seqs: number[][]): Promise<Float32Array[]> {
    const { slots, maxLen } = this.shape;
    const out: Float32Array[] = new Array(seqs.length);
    for (let s0 = 0; s0 < seqs.length; s0 += slots) {
      const group = seqs.slice(s0, s0 + slots);
      const all = group.flatMap((ids, slot) => {
        if (!ids.length || ids.length > maxLen)
          throw new RangeError(`sequence of ${ids.length} tokens: must be 1..${maxLen}`);
        return ids.map((id, pos) => ({ id, slot, pos, last: pos === ids.length - 1 }));
      });
      for (let i = 0; i < all.length; i += this.shape.maxRows) {
        const chunk = all.slice(i, i + this.shape.maxRows);
        for (const [slot, vals] of await this.lastOfChunk(chunk)) out[s0 + slot] = vals;
      }
    }
    return out;
  }

  /** One prefill pass over `chunk`; the head outputs of the rows that end their sequence. */
  private async lastOfChunk(chunk: { id: number; slot: number; pos: number; last: boolean }[]) {
    const dev = this.gpu.device;
    const outs = chunk.map((r, row) => ({ row, slot: r.slot })).filter((_, row) => chunk[row].last);
    dev.queue.writeBuffer(this.ids, 0, new Uint32Array(chunk.map((r) => r.id)));
    dev.queue.writeBuffer(this.rows, 0, new Uint32Array(chunk.flatMap((r) => [r.slot, r.pos])));
    dev.queue.writeBuffer(this.lastIdx, 0, new Uint32Array(outs.length ? outs.map((o) => o.row) : [0]));
    const enc = dev.createCommandEncoder();
    this.encode(enc, chunk.length, Math.max(1, outs.length), false);
    dev.queue.submit([enc.finish()]);
    this.stats.submits++;
    if (!outs.length) return [];
    const vals = await readF32(dev, this.logits, outs.length * this.outputs);
    return outs.map((o, b) => [o.slot, vals.slice(b * this.outputs, (b + 1) * this.outputs)] as const);
  }

  /** Logits [T, V] for every position of one sequence (slot 0), one pass; needs T ≤ maxRows, maxOut. */
  async logitsFor(tokens: number[]): Promise<Float32Array> {
    const T = tokens.length;
    if (T > this.shape.maxRows || T > this.maxOut || T > this.shape.maxLen)
      throw new RangeError(`${T} tokens exceed maxRows/maxOut/maxLen`);
    const dev = this.gpu.device;
    dev.queue.writeBuffer(this.ids, 0, new Uint32Array(tokens));
    dev.queue.writeBuffer(this.rows, 0, new Uint32Array(tokens.flatMap((_, p) => [0, p])));
    dev.queue.writeBuffer(this.lastIdx, 0, new Uint32Array(tokens.map((_, i) => i)));
    const enc = dev.createCommandEncoder();
    this.encode(enc, T, T, false);
    dev.queue.submit([enc.finish()]);
    this.stats.submits++;
    return readF32(dev, this.logits, T * this.outputs);
  }

  destroy(): void {
    this.setAdapter(null);
    this.res.destroy();
  }
}
