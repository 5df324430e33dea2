// The transformer forward pass as a fixed list of dispatches over preallocated buffers.
// Every step processes N rows (tokens); row r is token ids[r] of cache slot rows[2r] at position
// rows[2r+1], so one pass serves a ragged prefill of many prompts or one decode token per sequence.
// Causality comes from each row attending to cache positions ≤ its own.
// Pipelines, buffers and bind groups are created here once; a step only writes the small
// per-step inputs (ids, rows, lastIdx, seqs, sizes) and records dispatches.
//
// Legend: N rows this step (≤ maxRows), B outputs this step (≤ maxOut), H hidden, nH/nKV heads,
// hd head dim, I MLP width, V vocab, S cache slots, T maxLen (cache positions).

import type { ModelConfig } from '../model/config';
import { checkBindable, type Gpu } from '../gpu/device';
import { attentionKernel, dispatch, gemmKernel, Kernel } from '../gpu/kernel';
import type { WeightType } from '../gpu/shaders';
import { readF32 } from '../gpu/readback';
import type { GpuWeights } from './weights';
import { ropeTable } from './rope';
import type { LoraLayout, Target } from '../train/lora';

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

/** Passes with at most this many rows use the matmul's few_rows entry (decode steps). */
export const FEW_ROWS = 16;

export interface Stats {
  dispatches: number;
  submits: number;
}

/** The two matmul paths of a linear layer: decode (few rows) and prefill (gemm tiles). */
interface MatmulKernels {
  few: Kernel;
  gemm: Kernel;
}

/** Software adapters pay for barriers, hardware for idle threads: pick the matmul entries. */
function matmulKernels(dev: GPUDevice, wt: WeightType, software: boolean): MatmulKernels {
  return {
    few: new Kernel(dev, 'matmul', { wt, entry: software ? 'few_rows_serial' : 'few_rows' }),
    gemm: gemmKernel(dev, software, wt),
  };
}

export class Forward {
  readonly cfg: ModelConfig;
  readonly maxOut: number;
  // per-step inputs
  readonly ids: GPUBuffer; // [maxRows] u32
  readonly rows: GPUBuffer; // [maxRows, 2] u32 (slot, pos)
  readonly lastIdx: GPUBuffer; // [maxOut] u32: row whose logits are wanted
  readonly seqs: GPUBuffer; // [maxOut] SeqParams {seed, step, temperature, topP}
  // activations
  readonly x: GPUBuffer; // [maxRows, H] residual stream
  readonly logits: GPUBuffer; // [maxOut, V] (V = numLabels for a reward model)
  /** Columns of `logits`: the vocabulary, or a reward model's labels. */
  readonly outputs: number;
  readonly tokens: GPUBuffer; // [maxOut] u32 sampled ids
  readonly stats: Stats = { dispatches: 0, submits: 0 };

  private sized: {
    k: Kernel;
    buf: GPUBuffer;
    values: (N: number, B: number) => Record<string, number>;
    lora?: boolean;
  }[] = [];
  private lastSizes = '';
  /** The dispatches of one pass, in order; `name` groups them in profiles. */
  private plan: { name: string; run: (pass: GPUComputePassEncoder, N: number, B: number) => void }[] = [];
  private owned: GPUBuffer[] = [];

  constructor(
    readonly gpu: Gpu,
    cfg: ModelConfig,
    readonly weights: GpuWeights,
    readonly shape: ForwardShape,
  ) {
    this.cfg = cfg;
    const dev = gpu.device;
    const { hidden: H, heads: nH, kvHeads: nKV, headDim: hd, intermediate: I } = cfg;
    const V = (this.outputs = cfg.head === 'score' ? cfg.numLabels : cfg.vocab); // head rows: vocab, or reward labels
    const { maxRows: R, slots: S, maxLen: T } = shape;
    const O = (this.maxOut = shape.maxOut ?? S);
    if (hd > 256) throw new Error(`head_dim ${hd} > 256 is not supported by the attention kernel`);
    const wt = weights.wt;
    const k = {
      embed: new Kernel(dev, 'embedding', { wt }),
      norm: new Kernel(dev, 'rmsnorm', { entry: 'forward' }),
      mm: matmulKernels(dev, wt, gpu.isSoftware),
      rope: new Kernel(dev, 'ropeKv', { entry: 'forward' }),
      attn: attentionKernel(dev, gpu.isSoftware, 'forward'),
      swiglu: new Kernel(dev, 'swiglu', { entry: 'forward' }),
      gather: new Kernel(dev, 'gatherRows'),
      sample: new Kernel(dev, 'sample'),
    };
    const U = GPUBufferUsage;
    const buf = (label: string, elems: number, usage = U.STORAGE | U.COPY_SRC | U.COPY_DST) => {
      checkBindable(gpu, elems * 4, label);
      const b = dev.createBuffer({ label, size: Math.max(16, elems * 4), usage });
      this.owned.push(b);
      return b;
    };
    this.ids = buf('ids[R]', R);
    this.rows = buf('rows[R,2]', 2 * R);
    const starts = buf('attentionStarts[R] (zeros: inference never packs)', R);
    this.lastIdx = buf('lastIdx[O]', O);
    this.seqs = buf('seqs[O,4]', 4 * O);
    this.x = buf('x[R,H]', R * H);
    const xn = buf('xn[R,H]', R * H);
    const q = buf('q[R,nH,hd]', R * nH * hd);
    const kk = buf('k[R,nKV,hd]', R * nKV * hd);
    const vv = buf('v[R,nKV,hd]', R * nKV * hd);
    const att = buf('att[R,nH,T]', R * nH * T);
    const ao = buf('attnOut[R,nH,hd]', R * nH * hd);
    const g = buf('gate[R,I]', R * I);
    const u = buf('up[R,I]', R * I);
    const a = buf('act[R,I]', R * I);
    const rstd = buf('rstd[R·nH]', Math.max(R * nH, O));
    const qn = cfg.qkNorm ? buf('qNormed[R,nH,hd]', R * nH * hd) : null;
    const kn = cfg.qkNorm ? buf('kNormed[R,nKV,hd]', R * nKV * hd) : null;
    const xl = buf('xLast[O,H]', O * H);
    const xln = buf('xLastNorm[O,H]', O * H);
    this.logits = buf('logits[O,V]', O * V);
    this.tokens = buf('tokens[O]', O);
    const dummy = buf('noBias', 4);
    const cs = buf('ropeCosSin[T,hd/2,2]', T * hd);
    dev.queue.writeBuffer(cs, 0, ropeTable(T, hd, cfg.ropeTheta));
    const kCache: GPUBuffer[] = [];
    const vCache: GPUBuffer[] = [];
    for (let l = 0; l < cfg.layers; l++) {
      kCache.push(buf(`kCache${l}[S,nKV,T,hd]`, S * nKV * T * hd));
      vCache.push(buf(`vCache${l}[S,nKV,T,hd]`, S * nKV * T * hd));
    }

    // Uniform buffers: one per distinct shape, rewritten when N or B change.
    this.dummy = dummy;
    const sized = (kern: Kernel, label: string, values: (N: number, B: number) => Record<string, number>) =>
      this.uniformFor(kern, label, values);
    const pNorm = sized(k.norm, 'norm', (N) => ({ N, H, eps: cfg.rmsEps, saveRstd: 0 }));
    const pQn = cfg.qkNorm ? sized(k.norm, 'qNorm', (N) => ({ N: N * nH, H: hd, eps: cfg.rmsEps, saveRstd: 0 })) : null;
    const pKn = cfg.qkNorm
      ? sized(k.norm, 'kNorm', (N) => ({ N: N * nKV, H: hd, eps: cfg.rmsEps, saveRstd: 0 }))
      : null;
    const pRope = sized(k.rope, 'rope', (N) => ({ N, nH, nKV, hd, maxLen: T }));
    const pAttn = sized(k.attn.kernel, 'attn', (N) => ({ N, nH, nKV, hd, maxLen: T, scale: 1 / Math.sqrt(hd) }));
    const pSwiglu = sized(k.swiglu, 'swiglu', (N) => ({ n: N * I }));
    const pGather = sized(k.gather, 'gather', (_N, B) => ({ B, H }));
    const pFinalNorm = sized(k.norm, 'finalNorm', (_N, B) => ({ N: B, H, eps: cfg.rmsEps, saveRstd: 0 }));
    const pSample = sized(k.sample, 'sample', (_N, B) => ({ B, V }));

    // The plan: closures that record dispatches, in order.
    type Run = (pass: GPUComputePassEncoder, N: number, B: number) => void;
    const step = (name: string, run: Run) => this.plan.push({ name, run });
    const rowsGrid = (n: number) => [Math.min(n, 65535), Math.ceil(n / 65535)] as const;
    for (const c of weights.embed) {
      const p = sized(k.embed, 'embed', (N) => ({ N, H, rowStart: c.rowStart, chunkRows: c.rows }));
      const bg = k.embed.bind(p, this.ids, c.buffer, this.x);
      step('embedding', (pass, N) => this.dispatch(pass, k.embed, bg, Math.ceil(H / 64), N));
    }
    weights.layers.forEach((w, l) => {
      const bNorm1 = k.norm.bind(pNorm, this.x, w.inputNorm, xn, rstd);
      // Qwen3: q and k go through a per-head RMSNorm (rows of hd) before RoPE.
      const qIn = qn ?? q,
        kIn = kn ?? kk;
      const bRope = k.rope.bind(pRope, this.rows, cs, qIn, kIn, vv, kCache[l], vCache[l]);
      const bAttn = k.attn.kernel.bind(pAttn, this.rows, qIn, kCache[l], vCache[l], att, ao, starts);
      const bNorm2 = k.norm.bind(pNorm, this.x, w.postNorm, xn, rstd);
      const bAct = k.swiglu.bind(pSwiglu, g, u, a);
      const linear = (
        target: Target,
        x: GPUBuffer,
        W: GPUBuffer,
        bias: GPUBuffer | undefined,
        y: GPUBuffer,
        inF: number,
        outF: number,
        accumulate = false,
      ) => {
        step(target, this.linearRun(k.mm, { x, W, bias, y, K: inF, O: outF, accumulate }));
        this.linears.push({ at: this.plan.length - 1, layer: l, target, x, y, inF, outF });
      };
      step('rmsnorm', (pass, N) => this.dispatch(pass, k.norm, bNorm1, ...rowsGrid(N)));
      linear('q_proj', xn, w.q, w.qBias, q, H, nH * hd);
      linear('k_proj', xn, w.k, w.kBias, kk, H, nKV * hd);
      linear('v_proj', xn, w.v, w.vBias, vv, H, nKV * hd);
      if (qn && kn && w.qNorm && w.kNorm) {
        const bQn = k.norm.bind(pQn!, q, w.qNorm, qn, rstd);
        const bKn = k.norm.bind(pKn!, kk, w.kNorm, kn, rstd);
        step('q_norm', (pass, N) => this.dispatch(pass, k.norm, bQn, ...rowsGrid(N * nH)));
        step('k_norm', (pass, N) => this.dispatch(pass, k.norm, bKn, ...rowsGrid(N * nKV)));
      }
      step('rope_kv', (pass, N) => this.dispatch(pass, k.rope, bRope, Math.ceil(((nH + nKV) * hd) / 2 / 64), N));
      step('attention', (pass, N) => this.dispatch(pass, k.attn.kernel, bAttn, nH, k.attn.groupsFor(N)));
      linear('o_proj', ao, w.o, undefined, this.x, nH * hd, H, true);
      step('rmsnorm', (pass, N) => this.dispatch(pass, k.norm, bNorm2, ...rowsGrid(N)));
      linear('gate_proj', xn, w.gate, undefined, g, H, I);
      linear('up_proj', xn, w.up, undefined, u, H, I);
      step('swiglu', (pass, N) => {
        const wgs = Math.ceil((N * I) / 256);
        const x = Math.min(wgs, 65535);
        this.dispatch(pass, k.swiglu, bAct, x, Math.ceil(wgs / x));
      });
      linear('down_proj', a, w.down, undefined, this.x, I, H, true);
    });
    const bGather = k.gather.bind(pGather, this.lastIdx, this.x, xl);
    const bFinal = k.norm.bind(pFinalNorm, xl, weights.finalNorm, xln, rstd);
    step('gather_rows', (pass, _N, B) => this.dispatch(pass, k.gather, bGather, Math.ceil(H / 64), B));
    step('rmsnorm', (pass, _N, B) => this.dispatch(pass, k.norm, bFinal, ...rowsGrid(B)));
    for (const c of weights.lmHead) {
      step(
        'lm_head',
        this.linearRun(k.mm, {
          x: xln,
          W: c.buffer,
          y: this.logits,
          K: H,
          O: c.rows,
          ldy: V,
          yOffset: c.rowStart,
          rowsAreOutputs: true,
        }),
      );
    }
    this.mm32 = wt === 'f32' ? k.mm : matmulKernels(dev, 'f32', gpu.isSoftware);
    this.loraT = buf('loraT[R,r]', R * 64);
    const bSample = k.sample.bind(pSample, this.logits, this.seqs, this.tokens);
    this.sampleStep = { name: 'sample', run: (pass, _N, B) => this.dispatch(pass, k.sample, bSample, B) };
  }

  private sampleStep: Forward['plan'][number];
  /** Where each linear layer sits in the plan, for splicing in LoRA. */
  private linears: {
    at: number;
    layer: number;
    target: Target;
    x: GPUBuffer;
    y: GPUBuffer;
    inF: number;
    outF: number;
  }[] = [];
  private loraSteps = new Map<number, Forward['plan']>();
  private loraUniforms: GPUBuffer[] = [];
  private mm32!: MatmulKernels;
  private linearUniforms = new Map<string, GPUBuffer>();
  private loraT!: GPUBuffer;
  private dummy: GPUBuffer;
  adapter: InferenceAdapter | null = null;

  /**
   * Attaches a LoRA adapter (y += (alpha/r)·B(A·x) after each target linear) or detaches it
   * (null). Base weights are untouched; bind groups are made here, once per adapter.
   */
  setAdapter(adapter: InferenceAdapter | null): void {
    for (const b of this.loraUniforms) b.destroy();
    this.loraUniforms = [];
    for (const key of [...this.linearUniforms.keys()]) if (key.includes('|lora|')) this.linearUniforms.delete(key);
    this.loraSteps.clear();
    this.sized = this.sized.filter((s) => !s.lora);
    this.lastSizes = '';
    this.adapter = adapter;
    if (!adapter) return;
    const { layout, params } = adapter;
    if (layout.cfg.hidden !== this.cfg.hidden || layout.cfg.layers !== this.cfg.layers)
      throw new Error('adapter layout was made for another model');
    if (layout.lora.r > 64) throw new Error(`LoRA rank ${layout.lora.r} > 64 is not supported for generation`);
    const r = layout.lora.r;
    for (const lin of this.linears) {
      const m = layout.get(lin.layer, lin.target);
      if (!m) continue;
      const view = (v: { offset: number; length: number }) => ({
        buffer: params,
        offset: v.offset * 4,
        size: v.length * 4,
      });
      this.loraSteps.set(lin.at, [
        {
          name: 'lora',
          run: this.linearRun(this.mm32, { x: lin.x, W: view(m.A), y: this.loraT, K: lin.inF, O: r, lora: true }),
        },
        {
          name: 'lora',
          run: this.linearRun(this.mm32, {
            x: this.loraT,
            W: view(m.B),
            y: lin.y,
            K: r,
            O: lin.outF,
            accumulate: true,
            scale: layout.scale,
            lora: true,
          }),
        },
      ]);
    }
  }

  /**
   * One linear layer over the pass's rows, y[r, yOffset + o] (+)= scale·Σ_k x[r, k]·W[o, k] (+ bias[o]):
   * the matmul's few-rows entry for decode steps, the gemm's 32×32 tiles for prefill. Uniforms
   * (shared by equal shapes) and bind groups are made here, once. `rowsAreOutputs`: the rows are
   * the pass's B outputs (the LM head) rather than its N rows.
   */
  private linearRun(
    kern: MatmulKernels,
    o: {
      x: GPUBuffer;
      W: GPUBuffer | GPUBufferBinding;
      bias?: GPUBuffer;
      y: GPUBuffer;
      K: number;
      O: number;
      ldy?: number;
      yOffset?: number;
      accumulate?: boolean;
      scale?: number;
      rowsAreOutputs?: boolean;
      lora?: boolean;
    },
  ) {
    const ldy = o.ldy ?? o.O,
      yOffset = o.yOffset ?? 0,
      accumulate = +(o.accumulate ?? false),
      scale = o.scale ?? 1,
      hasBias = +!!o.bias;
    const rows = (N: number, B: number) => (o.rowsAreOutputs ? B : N);
    const shared = (k: Kernel, values: (n: number) => Record<string, number>) => {
      const key = `${k.pipeline.label}|${o.rowsAreOutputs ? 'B' : 'N'}|${o.lora ? 'lora' : ''}|${JSON.stringify(values(0))}`;
      let b = this.linearUniforms.get(key);
      if (!b) this.linearUniforms.set(key, (b = this.uniformFor(k, 'linear', (N, B) => values(rows(N, B)), o.lora)));
      return b;
    };
    const pFew = shared(kern.few, (n) => ({ N: n, K: o.K, O: o.O, ldy, yOffset, hasBias, accumulate, scale }));
    const pGemm = shared(kern.gemm, (n) => ({
      M: n,
      Nn: o.O,
      K: o.K,
      sAm: o.K,
      sAk: 1,
      sBk: 1,
      sBn: o.K,
      ldc: ldy,
      alpha: scale,
      accumulate,
      aOff: 0,
      cOff: yOffset,
      hasBias,
    }));
    const bias = o.bias ?? this.dummy;
    const bgFew = kern.few.bind(pFew, o.x, o.W, bias, o.y);
    const bgGemm = kern.gemm.bind(pGemm, o.x, o.W, o.y, bias);
    return (pass: GPUComputePassEncoder, N: number, B: number) => {
      const n = rows(N, B);
      if (n <= FEW_ROWS) {
        const groups = this.gpu.isSoftware ? Math.ceil(o.O / 64) : o.O;
        const x = Math.min(groups, 65535);
        this.dispatch(pass, kern.few, bgFew, x, Math.ceil(groups / x));
      } else this.dispatch(pass, kern.gemm, bgGemm, Math.ceil(o.O / 32), Math.ceil(n / 32));
    };
  }

  /** A uniform buffer rewritten by setSizes whenever N or B change. */
  private uniformFor(
    k: Kernel,
    label: string,
    values: (N: number, B: number) => Record<string, number>,
    lora = false,
  ): GPUBuffer {
    const b = k.uniform(values(1, 1), label);
    (lora ? this.loraUniforms : this.owned).push(b);
    this.sized.push({ k, buf: b, values, lora });
    return b;
  }

  /** The plan with the adapter's steps spliced in after their linears. */
  private steps(): Forward['plan'] {
    if (!this.loraSteps.size) return this.plan;
    return this.plan.flatMap((s, i) => [s, ...(this.loraSteps.get(i) ?? [])]);
  }

  private dispatch(pass: GPUComputePassEncoder, kern: Kernel, bg: GPUBindGroup, x: number, y = 1): void {
    dispatch(pass, kern, bg, x, y);
    this.stats.dispatches++;
  }

  /** Rewrites the size uniforms when N (rows) or B (outputs) changed since the last step. */
  setSizes(N: number, B: number): void {
    if (N < 1 || N > this.shape.maxRows) throw new RangeError(`rows ${N} outside 1..${this.shape.maxRows}`);
    if (B < 1 || B > this.maxOut) throw new RangeError(`outputs ${B} outside 1..${this.maxOut}`);
    const key = `${N},${B}`;
    if (key === this.lastSizes) return;
    for (const s of this.sized) s.k.update(s.buf, s.values(N, B));
    this.lastSizes = key;
  }

  /** Records the forward pass (and sampling, when `sample`) for N rows and B outputs. */
  encode(encoder: GPUCommandEncoder, N: number, B: number, sample: boolean): void {
    this.setSizes(N, B);
    const pass = encoder.beginComputePass({ label: 'forward' });
    for (const s of this.steps()) s.run(pass, N, B);
    if (sample) this.sampleStep.run(pass, N, B);
    pass.end();
  }

  /**
   * Measures one pass on the GPU with timestamp queries (device feature 'timestamp-query'):
   * every dispatch in a pass of its own, times summed by step name, in milliseconds.
   */
  async profile(N: number, B: number, sample: boolean): Promise<Map<string, number>> {
    const dev = this.gpu.device;
    const steps = sample ? [...this.steps(), this.sampleStep] : this.steps();
    const qs = dev.createQuerySet({ type: 'timestamp', count: 2 * steps.length });
    const resolve = dev.createBuffer({
      size: 16 * steps.length,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const read = dev.createBuffer({
      size: 16 * steps.length,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.setSizes(N, B);
    const enc = dev.createCommandEncoder();
    steps.forEach((s, i) => {
      const pass = enc.beginComputePass({
        timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
      });
      s.run(pass, N, B);
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
    const { maxRows, slots, maxLen } = this.shape;
    const dev = this.gpu.device;
    const out: Float32Array[] = new Array(seqs.length);
    for (let s0 = 0; s0 < seqs.length; s0 += slots) {
      const group = seqs.slice(s0, s0 + slots);
      const all = group.flatMap((ids, slot) => {
        if (!ids.length || ids.length > maxLen)
          throw new RangeError(`sequence of ${ids.length} tokens: must be 1..${maxLen}`);
        return ids.map((id, pos) => ({ id, slot, pos, last: pos === ids.length - 1 }));
      });
      for (let i = 0; i < all.length; i += maxRows) {
        const chunk = all.slice(i, i + maxRows);
        const outs = chunk.map((r, row) => ({ row, slot: r.slot })).filter((_, row) => chunk[row].last);
        dev.queue.writeBuffer(this.ids, 0, new Uint32Array(chunk.map((r) => r.id)));
        dev.queue.writeBuffer(this.rows, 0, new Uint32Array(chunk.flatMap((r) => [r.slot, r.pos])));
        dev.queue.writeBuffer(this.lastIdx, 0, new Uint32Array(outs.length ? outs.map((o) => o.row) : [0]));
        const enc = dev.createCommandEncoder();
        this.encode(enc, chunk.length, Math.max(1, outs.length), false);
        dev.queue.submit([enc.finish()]);
        this.stats.submits++;
        if (!outs.length) continue;
        const vals = await readF32(dev, this.logits, outs.length * this.outputs);
        outs.forEach((o, b) => (out[s0 + o.slot] = vals.slice(b * this.outputs, (b + 1) * this.outputs)));
      }
    }
    return out;
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
    for (const b of this.owned) b.destroy();
  }
}
