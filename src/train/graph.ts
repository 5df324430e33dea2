// The training graph: a forward pass over a padded batch that keeps what the backward needs,
// and the backward pass that turns per-token coefficients ∂loss/∂logp into LoRA gradients.
// Base weights are frozen; gradients flow through every op to the LoRA A and B tensors.
//
// Legend: S sequences × T positions, N = S·T rows (row = s·T + p), H hidden, nH/nKV heads,
// hd head dim, I MLP width, V vocab, r LoRA rank.

import type { ModelConfig } from '../model/config';
import { checkBindable, type Gpu } from '../gpu/device';
import { attentionKernel, gemmKernel, Kernel } from '../gpu/kernel';
import type { GpuWeights } from '../engine/weights';
import { ropeTable } from '../engine/rope';
import type { LoraLayout, LoraModule, LoraState, Target } from './lora';
import type { FullParams } from './full';
import { UsageError } from '../errors';

export interface TrainShape {
  seqs: number; // S
  seqLen: number; // T
  /** Rows of logits held at once (a multiple of 64); default: what fits in 64 MiB. */
  logitRows?: number;
  /**
   * Activation checkpointing (default true): keep only each layer's input and recompute the
   * layer's forward right before its backward — one extra forward per step, and activation
   * memory of one layer instead of all.
   */
  recompute?: boolean;
}

/** GPU bytes a TrainGraph allocates (its buffers, not the weights or the LoRA state), computed
 *  without allocating: the README's memory figures come from here and a test holds it to the real graph. */
export function trainGraphBytes(cfg: ModelConfig, shape: TrainShape, r: number, targets: number): number {
  const { hidden: H, heads: nH, kvHeads: nKV, headDim: hd, intermediate: I, vocab: V, layers: L } = cfg;
  const { seqs: S, seqLen: T } = shape;
  const N = S * T;
  const Rc = shape.logitRows ?? defaultLogitRows(cfg, N);
  const perLayerActs = N * (2 + 3 * H + 2 * nH * hd + 2 * nKV * hd + nH * T + 3 * I + targets * r);
  const layersKept = (shape.recompute ?? true) ? 1 : L;
  const shared =
    N * (4 + 2 + 1 + 2 * nKV * hd + r + 1 + 1 + H + 1 + 2 * H + 2 * nH * hd + nH * T + 4 * nKV * hd + 3 * I) +
    T * hd +
    2 * Rc * V;
  return 4 * ((L + 1) * N * H + layersKept * perLayerActs + shared);
}

function defaultLogitRows(cfg: ModelConfig, N: number): number {
  const rows = Math.max(64, Math.floor((64 * 2 ** 20) / (cfg.vocab * 4) / 64) * 64);
  return Math.min(rows, Math.ceil(N / 64) * 64);
}

/** A dispatch (recorded into a compute pass) or a buffer copy; `lora` marks adapter-only work. */
type Step = ({ pass: (p: GPUComputePassEncoder) => void } | { copy: (e: GPUCommandEncoder) => void }) & {
  lora?: boolean;
};

interface LayerActs {
  xIn: GPUBuffer; // [N,H] layer input (residual)
  rstd1: GPUBuffer; // [N]
  xn1: GPUBuffer; // [N,H]
  q: GPUBuffer; // [N,nH,hd] after RoPE
  kc: GPUBuffer; // [S,nKV,T,hd]
  vc: GPUBuffer; // [S,nKV,T,hd]
  att: GPUBuffer; // [N,nH,T]
  ao: GPUBuffer; // [N,nH·hd]
  xMid: GPUBuffer; // [N,H] residual after attention
  rstd2: GPUBuffer; // [N]
  xn2: GPUBuffer; // [N,H]
  gate: GPUBuffer; // [N,I]
  up: GPUBuffer; // [N,I]
  act: GPUBuffer; // [N,I]
  t: Map<Target, GPUBuffer>; // LoRA A·x per module [N,r]
}

export class TrainGraph {
  readonly N: number;
  readonly ids: GPUBuffer; // [N] u32 input tokens
  readonly targets: GPUBuffer; // [N] u32 next token, 0xffffffff outside the completion
  readonly coef: GPUBuffer; // [N] f32 ∂loss/∂logp per row
  readonly logp: GPUBuffer; // [N] f32 log-prob of each row's target
  private readonly starts: GPUBuffer; // [N] u32 position where each row's conversation begins
  private fwd: Step[] = [];
  private bwd: Step[] = [];
  private owned: GPUBuffer[] = [];
  private uniforms: GPUBuffer[] = [];

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
    const dev = gpu.device;
    if (cfg.qkNorm || cfg.head !== 'lm')
      throw new UsageError(
        'training supports Llama and Qwen2 causal LMs',
        'Qwen3 (q/k norm) and reward models can be used for generation and judging, not trained.',
      );
    const { hidden: H, heads: nH, kvHeads: nKV, headDim: hd, intermediate: I, vocab: V } = cfg;
    const { seqs: S, seqLen: T } = shape;
    const N = (this.N = S * T);
    const r = lora?.lora.r ?? 1;
    const wt = weights.wt;
    const K = {
      embed: new Kernel(dev, 'embedding', { wt }),
      normF: new Kernel(dev, 'rmsnorm', { entry: 'forward' }),
      normB: new Kernel(dev, 'rmsnorm', { entry: 'backward' }),
      gemmW: gemmKernel(dev, gpu.isSoftware, wt),
      gemm: gemmKernel(dev, gpu.isSoftware),
      ropeF: new Kernel(dev, 'ropeKv', { entry: 'forward' }),
      ropeB: new Kernel(dev, 'ropeKv', { entry: 'backward' }),
      attF: attentionKernel(dev, gpu.isSoftware, 'forward'),
      attBq: attentionKernel(dev, gpu.isSoftware, 'backward_q'),
      attBkv: new Kernel(dev, 'attention', { entry: 'backward_kv' }),
      swiF: new Kernel(dev, 'swiglu', { entry: 'forward' }),
      swiB: new Kernel(dev, 'swiglu', { entry: 'backward' }),
      lpF: new Kernel(dev, 'logprob', { entry: 'forward' }),
      lpB: new Kernel(dev, 'logprob', { entry: 'backward' }),
      normW: new Kernel(dev, 'rmsnorm', { entry: 'backward_weight' }),
      embB: new Kernel(dev, 'embedding', { entry: 'backward' }),
    };
    const buf = (label: string, elems: number) => {
      checkBindable(gpu, elems * 4, label);
      const b = dev.createBuffer({
        label,
        size: Math.max(16, elems * 4),
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      this.owned.push(b);
      return b;
    };
    const uni = (k: Kernel, values: Record<string, number>) => {
      const b = k.uniform(values);
      this.uniforms.push(b);
      return b;
    };
    const dispatch = (
      list: Step[],
      k: Kernel,
      params: Record<string, number>,
      bufs: (GPUBuffer | GPUBufferBinding)[],
      x: number,
      y = 1,
      z = 1,
    ) => {
      const bg = k.bind(uni(k, params), ...bufs);
      list.push({
        pass: (p) => {
          p.setPipeline(k.pipeline);
          p.setBindGroup(0, bg);
          p.dispatchWorkgroups(x, y, z);
        },
      });
    };
    const dummy = buf('dummy', 4);
    // C[M,Nn] (+)= alpha·A·B with strides (see gemm.wgsl)
    const gemm = (
      list: Step[],
      k: Kernel,
      M: number,
      Nn: number,
      Kd: number,
      s: [number, number, number, number],
      A: GPUBuffer | GPUBufferBinding,
      B: GPUBuffer | GPUBufferBinding,
      C: GPUBuffer | GPUBufferBinding,
      o: { alpha?: number; accumulate?: boolean; ldc?: number; aOff?: number; cOff?: number; bias?: GPUBuffer } = {},
    ) =>
      dispatch(
        list,
        k,
        {
          M,
          Nn,
          K: Kd,
          sAm: s[0],
          sAk: s[1],
          sBk: s[2],
          sBn: s[3],
          ldc: o.ldc ?? Nn,
          alpha: o.alpha ?? 1,
          accumulate: +(o.accumulate ?? false),
          aOff: o.aOff ?? 0,
          cOff: o.cOff ?? 0,
          hasBias: +!!o.bias,
        },
        [A, B, C, o.bias ?? dummy],
        Math.ceil(Nn / 32),
        Math.ceil(M / 32),
      );
    const copy = (list: Step[], src: GPUBuffer, dst: GPUBuffer, bytes: number) =>
      list.push({ copy: (e) => e.copyBufferToBuffer(src, 0, dst, 0, bytes) });
    const sc = lora?.scale ?? 0;
    const P = (v: GPUBuffer, m: LoraModule, which: 'A' | 'B') => state!.view(v, m[which]);

    /** y = x·Wᵀ (+ bias) (+ s·(x·Aᵀ)·Bᵀ, steps marked `lora`). */
    const linearF = (
      list: Step[],
      X: GPUBuffer,
      W: GPUBuffer,
      inF: number,
      outF: number,
      Y: GPUBuffer,
      o: { accumulate?: boolean; bias?: GPUBuffer; mod?: LoraModule; t?: GPUBuffer },
    ) => {
      gemm(list, K.gemmW, N, outF, inF, [inF, 1, 1, inF], X, W, Y, { accumulate: o.accumulate, bias: o.bias });
      if (o.mod && o.t) {
        const steps: Step[] = [];
        gemm(steps, K.gemm, N, r, inF, [inF, 1, 1, inF], X, P(state!.params, o.mod, 'A'), o.t);
        gemm(steps, K.gemm, N, outF, r, [r, 1, 1, r], o.t, P(state!.params, o.mod, 'B'), Y, {
          alpha: sc,
          accumulate: true,
        });
        list.push(...steps.map((st) => ({ ...st, lora: true })));
      }
    };
    /** Gradients of a linear: dX (=|+=) dY·W (+ s·(dY·B)·A), and LoRA dA, dB accumulated. */
    /**
     * Gradients of a linear: dX (=|+=) dY·W (+ s·(dY·B)·A), LoRA dA/dB accumulated, and with full
     * training dW += dYᵀ·X and dbias += Σ_rows dY (`wname` is the weight's name without ".weight").
     */
    const linearB = (
      dY: GPUBuffer,
      X: GPUBuffer,
      W: GPUBuffer,
      inF: number,
      outF: number,
      dX: GPUBuffer,
      accumulate: boolean,
      wname: string,
      mod?: LoraModule,
      t?: GPUBuffer,
      hasBias = false,
    ) => {
      gemm(this.bwd, K.gemmW, N, inF, outF, [outF, 1, inF, 1], dY, W, dX, { accumulate });
      if (mod && t) {
        gemm(this.bwd, K.gemm, outF, r, N, [1, outF, r, 1], dY, t, P(state!.grads, mod, 'B'), {
          alpha: sc,
          accumulate: true,
        });
        gemm(this.bwd, K.gemm, N, r, outF, [outF, 1, r, 1], dY, P(state!.params, mod, 'B'), dt, { alpha: sc });
        gemm(this.bwd, K.gemm, r, inF, N, [1, r, inF, 1], dt, X, P(state!.grads, mod, 'A'), { accumulate: true });
        gemm(this.bwd, K.gemm, N, inF, r, [r, 1, inF, 1], dt, P(state!.params, mod, 'A'), dX, { accumulate: true });
      }
      if (full) {
        gemm(this.bwd, K.gemm, outF, inF, N, [1, outF, inF, 1], dY, X, full.grad(`${wname}.weight`), {
          accumulate: true,
        });
        if (hasBias)
          gemm(this.bwd, K.gemm, 1, outF, N, [0, 1, outF, 1], ones, dY, full.grad(`${wname}.bias`), {
            accumulate: true,
          });
      }
    };
    /** RMSNorm backward into dX (accumulating or not), and its weight gradient with full training. */
    const normB = (
      x: GPUBuffer,
      w: GPUBuffer,
      dy: GPUBuffer,
      rstd: GPUBuffer,
      dX: GPUBuffer,
      accumulate: boolean,
      wname: string,
    ) => {
      dispatch(this.bwd, K.normB, { N, H, accumulate: +accumulate }, [x, w, dy, rstd, dX], N);
      if (full)
        dispatch(this.bwd, K.normW, { N, H, accumulate: 1 }, [x, w, dy, rstd, full.grad(wname)], Math.ceil(H / 64));
    };

    // ---- inputs and shared scratch ----
    this.ids = buf('ids[N]', N);
    this.targets = buf('targets[N]', N);
    this.coef = buf('coef[N]', N);
    this.logp = buf('logp[N]', N);
    const rows = buf('rows[N,2]', 2 * N);
    dev.queue.writeBuffer(
      rows,
      0,
      Uint32Array.from({ length: 2 * N }, (_, i) => (i % 2 === 0 ? Math.floor(i / 2 / T) : (i / 2) % T)),
    );
    this.starts = buf('attentionStarts[N]', N); // per batch: where each row's conversation begins (packed rows)
    const cs = buf('ropeCosSin[T,hd/2,2]', T * hd);
    dev.queue.writeBuffer(cs, 0, ropeTable(T, hd, cfg.ropeTheta));
    const kRows = buf('k[N,nKV,hd]', N * nKV * hd),
      vRows = buf('v[N,nKV,hd]', N * nKV * hd);
    const dt = buf('dLoraT[N,r]', N * r);
    const ones = buf('ones[N]', N);
    dev.queue.writeBuffer(ones, 0, new Float32Array(N).fill(1));

    // ---- forward ----
    const L = cfg.layers;
    const xs = Array.from({ length: L + 1 }, (_, l) => buf(`x${l}[N,H]`, N * H));
    for (const c of weights.embed)
      dispatch(
        this.fwd,
        K.embed,
        { N, H, rowStart: c.rowStart, chunkRows: c.rows },
        [this.ids, c.buffer, xs[0]],
        Math.ceil(H / 64),
        N,
      );
    const acts: LayerActs[] = [];
    const mod = (l: number, t: Target) => lora?.get(l, t);
    const layerFwd: Step[][] = [];
    const recompute = shape.recompute ?? true;
    const newActs = (tag: string): Omit<LayerActs, 'xIn'> => {
      const t = new Map<Target, GPUBuffer>();
      for (const target of lora?.lora.targets ?? []) t.set(target, buf(`t.${tag}.${target}`, N * r));
      return {
        rstd1: buf(`rstd1.${tag}`, N),
        xn1: buf(`xn1.${tag}`, N * H),
        q: buf(`q.${tag}`, N * nH * hd),
        kc: buf(`kc.${tag}`, S * nKV * T * hd),
        vc: buf(`vc.${tag}`, S * nKV * T * hd),
        att: buf(`att.${tag}`, N * nH * T),
        ao: buf(`ao.${tag}`, N * nH * hd),
        xMid: buf(`xMid.${tag}`, N * H),
        rstd2: buf(`rstd2.${tag}`, N),
        xn2: buf(`xn2.${tag}`, N * H),
        gate: buf(`gate.${tag}`, N * I),
        up: buf(`up.${tag}`, N * I),
        act: buf(`act.${tag}`, N * I),
        t,
      };
    };
    const sharedActs = recompute ? newActs('shared') : null;
    for (let l = 0; l < L; l++) {
      const w = weights.layers[l];
      const a: LayerActs = { xIn: xs[l], ...(sharedActs ?? newActs(String(l))) };
      acts.push(a);
      const f: Step[] = [];
      layerFwd.push(f);
      dispatch(f, K.normF, { N, H, eps: cfg.rmsEps, saveRstd: 1 }, [a.xIn, w.inputNorm, a.xn1, a.rstd1], N);
      linearF(f, a.xn1, w.q, H, nH * hd, a.q, { bias: w.qBias, mod: mod(l, 'q_proj'), t: a.t.get('q_proj') });
      linearF(f, a.xn1, w.k, H, nKV * hd, kRows, { bias: w.kBias, mod: mod(l, 'k_proj'), t: a.t.get('k_proj') });
      linearF(f, a.xn1, w.v, H, nKV * hd, vRows, { bias: w.vBias, mod: mod(l, 'v_proj'), t: a.t.get('v_proj') });
      dispatch(
        f,
        K.ropeF,
        { N, nH, nKV, hd, maxLen: T },
        [rows, cs, a.q, kRows, vRows, a.kc, a.vc],
        Math.ceil(((nH + nKV) * hd) / 2 / 64),
        N,
      );
      dispatch(
        f,
        K.attF.kernel,
        { N, nH, nKV, hd, maxLen: T, scale: 1 / Math.sqrt(hd) },
        [rows, a.q, a.kc, a.vc, a.att, a.ao, this.starts],
        nH,
        K.attF.groupsFor(N),
      );
      copy(f, a.xIn, a.xMid, N * H * 4);
      linearF(f, a.ao, w.o, nH * hd, H, a.xMid, { accumulate: true, mod: mod(l, 'o_proj'), t: a.t.get('o_proj') });
      dispatch(f, K.normF, { N, H, eps: cfg.rmsEps, saveRstd: 1 }, [a.xMid, w.postNorm, a.xn2, a.rstd2], N);
      linearF(f, a.xn2, w.gate, H, I, a.gate, { mod: mod(l, 'gate_proj'), t: a.t.get('gate_proj') });
      linearF(f, a.xn2, w.up, H, I, a.up, { mod: mod(l, 'up_proj'), t: a.t.get('up_proj') });
      dispatch(f, K.swiF, { n: N * I }, [a.gate, a.up, a.act], Math.ceil((N * I) / 256));
      copy(f, a.xMid, xs[l + 1], N * H * 4);
      linearF(f, a.act, w.down, I, H, xs[l + 1], {
        accumulate: true,
        mod: mod(l, 'down_proj'),
        t: a.t.get('down_proj'),
      });
      this.fwd.push(...f);
    }
    const rstdF = buf('rstdF[N]', N),
      xnF = buf('xnF[N,H]', N * H);
    // LM head and log-probs in chunks of Rc rows, so [N, V] logits never exist at once; the
    // backward recomputes each chunk's logits (one extra LM-head matmul) instead of keeping them.
    const Rc = shape.logitRows ?? defaultLogitRows(cfg, N);
    if (Rc % 64 !== 0) throw new Error(`logitRows ${Rc} must be a multiple of 64`);
    const logits = buf('logits[Rc,V]', Rc * V),
      dLogits = buf('dLogits[Rc,V]', Rc * V),
      lse = buf('lse[N]', N);
    dispatch(this.fwd, K.normF, { N, H, eps: cfg.rmsEps, saveRstd: 1 }, [xs[L], weights.finalNorm, xnF, rstdF], N);
    const dxnF = buf('dxn[N,H]', N * H),
      dx = buf('dx[N,H]', N * H);
    const rowView = (b: GPUBuffer, c0: number, n: number) => ({ buffer: b, offset: c0 * 4, size: n * 4 });
    for (let c0 = 0; c0 < N; c0 += Rc) {
      const n = Math.min(Rc, N - c0);
      const head = (list: Step[]) => {
        for (const c of weights.lmHead)
          gemm(list, K.gemmW, n, c.rows, H, [H, 1, 1, H], xnF, c.buffer, logits, {
            ldc: V,
            cOff: c.rowStart,
            aOff: c0 * H,
          });
      };
      head(this.fwd);
      dispatch(
        this.fwd,
        K.lpF,
        { N: n, V },
        [logits, rowView(this.targets, c0, n), rowView(lse, c0, n), rowView(this.logp, c0, n)],
        n,
      );
      head(this.bwd);
      dispatch(
        this.bwd,
        K.lpB,
        { N: n, V },
        [logits, rowView(this.targets, c0, n), rowView(lse, c0, n), rowView(this.coef, c0, n), dLogits],
        n,
      );
      weights.lmHead.forEach((c, i) =>
        gemm(this.bwd, K.gemmW, n, H, c.rows, [V, 1, H, 1], dLogits, c.buffer, dxnF, {
          aOff: c.rowStart,
          cOff: c0 * H,
          accumulate: i > 0,
        }),
      );
      if (full) {
        // dE (or dLmHead) += dLogitsᵀ · xnF over this chunk's rows
        const gHead = full.grad(cfg.tieEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
        gemm(
          this.bwd,
          K.gemm,
          V,
          H,
          n,
          [1, V, H, 1],
          dLogits,
          { buffer: xnF, offset: c0 * H * 4, size: n * H * 4 },
          gHead,
          { accumulate: true },
        );
      }
    }

    // ---- backward ----
    const dAo = buf('dAo[N,nH·hd]', N * nH * hd),
      dq = buf('dq[N,nH,hd]', N * nH * hd),
      dS = buf('dS[N,nH,T]', N * nH * T);
    const dKc = buf('dKc[S,nKV,T,hd]', S * nKV * T * hd),
      dVc = buf('dVc[S,nKV,T,hd]', S * nKV * T * hd);
    const dk = buf('dk[N,nKV,hd]', N * nKV * hd),
      dv = buf('dv[N,nKV,hd]', N * nKV * hd);
    const dAct = buf('dAct[N,I]', N * I),
      dGate = buf('dGate[N,I]', N * I),
      dUp = buf('dUp[N,I]', N * I);
    normB(xs[L], weights.finalNorm, dxnF, rstdF, dx, false, 'model.norm.weight');
    for (let l = L - 1; l >= 0; l--) {
      const w = weights.layers[l],
        a = acts[l];
      if (recompute) this.bwd.push(...layerFwd[l]); // rebuild this layer's activations (the adapter included)
      // MLP: dx is ∂/∂(layer output) = ∂/∂(xMid + down(...))
      const pre = `model.layers.${l}.`;
      linearB(dx, a.act, w.down, I, H, dAct, false, pre + 'mlp.down_proj', mod(l, 'down_proj'), a.t.get('down_proj'));
      dispatch(this.bwd, K.swiB, { n: N * I }, [a.gate, a.up, dAct, dGate, dUp], Math.ceil((N * I) / 256));
      linearB(
        dGate,
        a.xn2,
        w.gate,
        H,
        I,
        dxnF,
        false,
        pre + 'mlp.gate_proj',
        mod(l, 'gate_proj'),
        a.t.get('gate_proj'),
      );
      linearB(dUp, a.xn2, w.up, H, I, dxnF, true, pre + 'mlp.up_proj', mod(l, 'up_proj'), a.t.get('up_proj'));
      normB(a.xMid, w.postNorm, dxnF, a.rstd2, dx, true, pre + 'post_attention_layernorm.weight');
      // attention: dx is now ∂/∂xMid
      linearB(dx, a.ao, w.o, nH * hd, H, dAo, false, pre + 'self_attn.o_proj', mod(l, 'o_proj'), a.t.get('o_proj'));
      const P2 = { N, nH, nKV, hd, maxLen: T, scale: 1 / Math.sqrt(hd) };
      dispatch(this.bwd, K.attBq.kernel, P2, [rows, a.q, a.kc, a.vc, a.att, dAo, dS, dq], nH, K.attBq.groupsFor(N));
      dispatch(this.bwd, K.attBkv, P2, [rows, a.q, a.kc, a.vc, a.att, dAo, dS, dKc, dVc], T, nKV, S);
      dispatch(
        this.bwd,
        K.ropeB,
        { N, nH, nKV, hd, maxLen: T },
        [rows, cs, dq, dk, dv, dKc, dVc],
        Math.ceil(((nH + nKV) * hd) / 2 / 64),
        N,
      );
      linearB(
        dq,
        a.xn1,
        w.q,
        H,
        nH * hd,
        dxnF,
        false,
        pre + 'self_attn.q_proj',
        mod(l, 'q_proj'),
        a.t.get('q_proj'),
        cfg.qkvBias,
      );
      linearB(
        dk,
        a.xn1,
        w.k,
        H,
        nKV * hd,
        dxnF,
        true,
        pre + 'self_attn.k_proj',
        mod(l, 'k_proj'),
        a.t.get('k_proj'),
        cfg.qkvBias,
      );
      linearB(
        dv,
        a.xn1,
        w.v,
        H,
        nKV * hd,
        dxnF,
        true,
        pre + 'self_attn.v_proj',
        mod(l, 'v_proj'),
        a.t.get('v_proj'),
        cfg.qkvBias,
      );
      normB(a.xIn, w.inputNorm, dxnF, a.rstd1, dx, true, pre + 'input_layernorm.weight');
    }
    if (full) {
      // dE[id] += Σ dx over the rows holding id (rows grouped by id on the host, see writeInputs)
      this.embUniq = buf('embUniq[N]', N);
      this.embSeg = buf('embSeg[N+1]', N + 1);
      this.embRows = buf('embRows[N]', N);
      this.embParams = K.embB.uniform({ U: 0, H });
      this.embKernel = K.embB;
      const bg = K.embB.bind(
        this.embParams,
        this.embUniq,
        this.embSeg,
        this.embRows,
        dx,
        full.grad('model.embed_tokens.weight'),
      );
      this.bwd.push({
        pass: (p) => {
          p.setPipeline(K.embB.pipeline);
          p.setBindGroup(0, bg);
          p.dispatchWorkgroups(N);
        },
      });
    }
  }

  private embUniq?: GPUBuffer;
  private embSeg?: GPUBuffer;
  private embRows?: GPUBuffer;
  private embParams?: GPUBuffer;
  private embKernel?: Kernel;

  /** Writes a batch: input ids and next-token targets [N], the position within its sequence at which
   *  each row's conversation begins [N] (all 0 unless rows are packed; see attention.wgsl), and, with
   *  full training, the rows grouped by id. */
  writeInputs(ids: Uint32Array, targets: Uint32Array, starts = new Uint32Array(ids.length)): void {
    const q = this.gpu.device.queue;
    q.writeBuffer(this.ids, 0, ids);
    q.writeBuffer(this.targets, 0, targets);
    q.writeBuffer(this.starts, 0, starts);
    if (this.full) {
      const order = Array.from(ids.keys()).sort((a, b) => ids[a] - ids[b] || a - b);
      const uniq: number[] = [],
        seg: number[] = [];
      order.forEach((row, j) => {
        if (j === 0 || ids[row] !== ids[order[j - 1]]) {
          uniq.push(ids[row]);
          seg.push(j);
        }
      });
      seg.push(order.length);
      q.writeBuffer(this.embUniq!, 0, new Uint32Array(uniq));
      q.writeBuffer(this.embSeg!, 0, new Uint32Array(seg));
      q.writeBuffer(this.embRows!, 0, new Uint32Array(order));
      this.embKernel!.update(this.embParams!, { U: uniq.length, H: this.cfg.hidden });
    }
  }

  private record(enc: GPUCommandEncoder, steps: Step[]): void {
    let pass: GPUComputePassEncoder | null = null;
    for (const s of steps) {
      if ('pass' in s) {
        pass ??= enc.beginComputePass();
        s.pass(pass);
      } else {
        pass?.end();
        pass = null;
        s.copy(enc);
      }
    }
    pass?.end();
  }

  /** Forward over the batch in `ids`/`targets` → `logp`. With lora = false the adapter is skipped (the reference model). */
  encodeForward(enc: GPUCommandEncoder, lora: boolean): void {
    this.record(enc, lora ? this.fwd : this.fwd.filter((s) => !s.lora));
  }

  /** Backward from `coef` (∂loss/∂logp per row) into the LoRA gradients (accumulated). Needs the forward with lora = true. */
  encodeBackward(enc: GPUCommandEncoder): void {
    this.record(enc, this.bwd);
  }

  /** Bytes of the storage buffers this graph allocated. */
  get bytes(): number {
    return this.owned.reduce((a, b) => a + b.size, 0);
  }

  destroy(): void {
    for (const b of [...this.owned, ...this.uniforms]) b.destroy();
    this.embParams?.destroy();
  }
}
