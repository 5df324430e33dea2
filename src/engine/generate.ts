// Batched generation: ragged prefill of all prompts, then one decode row per live sequence per
// step, sampling on the GPU. Each pass is one queue submission; only the sampled ids are read back.

import { UsageError } from '../errors';
import { throwIfFailed } from '../gpu/device';
import type { Forward } from './forward';

export interface SamplingOptions {
  /** 0 = greedy (argmax). */
  temperature?: number;
  topP?: number;
  /** Sequence i uses seed + i unless `seeds` is given. */
  seed?: number;
  seeds?: number[];
}

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens?: number | number[];
  /** Generation stops when one of these ids is sampled (it is not included in the output). */
  eosTokenIds?: number[];
  /** Generation stops when the decoded text contains one of these (the text is cut before it). */
  stopStrings?: string[];
  /** Needed for stop strings: token ids → text. */
  decode?: (ids: number[]) => string;
  /** Called after every step with each newly sampled token of prompt `seq` (its index in the call). */
  onToken?: (seq: number, tokenId: number) => void;
  signal?: AbortSignal;
}

export type FinishReason = 'eos' | 'stop' | 'length' | 'context';

export interface Generation {
  tokenIds: number[];
  finishReason: FinishReason;
  /** Decoded text (cut at a stop string) when a decoder was given. */
  text?: string;
}

export interface GenerateTimings {
  prefillTokens: number;
  prefillMs: number;
  decodeTokens: number;
  decodeMs: number;
  decodeSteps: number;
  /** GPU work recorded during decode steps (for the benchmark's per-step figures). */
  decodeDispatches: number;
  decodeSubmits: number;
}

interface Seq {
  /** Index of the prompt in the call (onToken's `seq`). */
  index: number;
  slot: number;
  prompt: number[];
  out: number[];
  max: number;
  seed: number;
  done?: FinishReason;
  text?: string;
}

export class Generator {
  readonly timings: GenerateTimings = {
    prefillTokens: 0,
    prefillMs: 0,
    decodeTokens: 0,
    decodeMs: 0,
    decodeSteps: 0,
    decodeDispatches: 0,
    decodeSubmits: 0,
  };
  private staging: GPUBuffer;
  private seqParams: ArrayBuffer;

  constructor(readonly fwd: Forward) {
    const O = fwd.maxOut;
    this.staging = fwd.gpu.device.createBuffer({
      label: 'tokensReadback[O]',
      size: Math.max(16, O * 4),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.seqParams = new ArrayBuffer(16 * O);
  }

  /** Generates from each prompt; batches of up to `slots` sequences run together. */
  async generate(prompts: number[][], opts: GenerateOptions = {}): Promise<Generation[]> {
    const { slots, maxLen } = this.fwd.shape;
    const V = this.fwd.cfg.vocab;
    const results: Generation[] = [];
    prompts.forEach((p, i) => {
      if (!p.length) throw new UsageError(`prompt ${i} is empty`, 'Give at least one token (e.g. BOS).');
      const bad = p.find((t) => !Number.isInteger(t) || t < 0 || t >= V);
      if (bad !== undefined) throw new UsageError(`prompt ${i} has token id ${bad} outside the vocabulary 0..${V - 1}`);
      if (p.length > maxLen)
        throw new UsageError(
          `prompt ${i} has ${p.length} tokens; the context holds ${maxLen}`,
          'Shorten the prompt or raise maxLen.',
        );
    });
    for (let start = 0; start < prompts.length; start += slots) {
      const group: Seq[] = prompts.slice(start, start + slots).map((prompt, j) => {
        const i = start + j;
        const max = Array.isArray(opts.maxNewTokens) ? opts.maxNewTokens[i] : (opts.maxNewTokens ?? 128);
        return { index: i, slot: j, prompt, out: [], max, seed: opts.seeds?.[i] ?? (opts.seed ?? 0) + i };
      });
      await this.runGroup(group, opts);
      for (const s of group) results.push({ tokenIds: s.out, finishReason: s.done ?? 'length', text: s.text });
    }
    return results;
  }

  private async runGroup(group: Seq[], opts: GenerateOptions): Promise<void> {
    const { maxRows, maxLen } = this.fwd.shape;
    const eos = new Set(opts.eosTokenIds ?? []);
    for (const s of group) if (s.max <= 0) s.done = 'length';

    // Prefill: all prompt tokens, split into passes of ≤ maxRows rows; a sequence's first token
    // is sampled in the pass that holds its last prompt token.
    const all = group.filter((s) => !s.done).flatMap((s) => s.prompt.map((id, pos) => ({ s, id, pos })));
    let t0 = performance.now();
    for (let i = 0; i < all.length; i += maxRows) {
      const chunk = all.slice(i, i + maxRows);
      const outs = chunk.map((r, idx) => ({ r, idx })).filter(({ r }) => r.pos === r.s.prompt.length - 1);
      const sampled = await this.pass(
        chunk.map((r) => [r.s.slot, r.pos, r.id]),
        outs.map((o) => ({ row: o.idx, s: o.r.s })),
        opts,
      );
      outs.forEach((o, j) => this.accept(o.r.s, sampled[j], eos, opts));
    }
    this.timings.prefillTokens += all.length;
    this.timings.prefillMs += performance.now() - t0;

    // Decode: one row per live sequence.
    t0 = performance.now();
    const { dispatches: d0, submits: s0 } = this.fwd.stats;
    for (;;) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
      const live = group.filter((s) => !s.done);
      if (!live.length) break;
      // the next row sits at position prompt + out − 1, which must be inside the cache
      for (const s of live) if (s.prompt.length + s.out.length > maxLen) s.done = 'context';
      const rows = live.filter((s) => !s.done);
      if (!rows.length) break;
      const sampled = await this.pass(
        rows.map((s) => [s.slot, s.prompt.length + s.out.length - 1, s.out[s.out.length - 1]]),
        rows.map((s, idx) => ({ row: idx, s })),
        opts,
      );
      rows.forEach((s, j) => this.accept(s, sampled[j], eos, opts));
      this.timings.decodeTokens += rows.length;
      this.timings.decodeSteps++;
    }
    this.timings.decodeMs += performance.now() - t0;
    this.timings.decodeDispatches += this.fwd.stats.dispatches - d0;
    this.timings.decodeSubmits += this.fwd.stats.submits - s0;
  }

  resetTimings(): void {
    for (const k of Object.keys(this.timings) as (keyof GenerateTimings)[]) this.timings[k] = 0;
  }

  private accept(s: Seq, id: number, eos: Set<number>, opts: GenerateOptions): void {
    opts.onToken?.(s.index, id);
    if (eos.has(id)) {
      s.done = 'eos';
      if (opts.decode) s.text = opts.decode(s.out);
      return;
    }
    s.out.push(id);
    if (opts.decode) {
      const text = opts.decode(s.out);
      s.text = text;
      for (const stop of opts.stopStrings ?? []) {
        const at = stop ? text.indexOf(stop) : -1;
        if (at >= 0) {
          s.text = text.slice(0, at);
          s.done = 'stop';
          return;
        }
      }
    } else if (opts.stopStrings?.length) throw new UsageError('stop strings need a tokenizer to decode text');
    if (s.out.length >= s.max) s.done = 'length';
  }

  /** One forward pass over `rows` = [slot, pos, id]; samples the rows named in `outs`. */
  private async pass(rows: number[][], outs: { row: number; s: Seq }[], opts: SamplingOptions): Promise<number[]> {
    const fwd = this.fwd;
    const dev = fwd.gpu.device;
    const N = rows.length;
    const ids = new Uint32Array(N);
    const meta = new Uint32Array(2 * N);
    rows.forEach(([slot, pos, id], r) => {
      ids[r] = id;
      meta[2 * r] = slot;
      meta[2 * r + 1] = pos;
    });
    dev.queue.writeBuffer(fwd.ids, 0, ids);
    dev.queue.writeBuffer(fwd.rows, 0, meta);
    const B = outs.length;
    if (B === 0) {
      // A prefill chunk that ends no prompt: fill the caches only.
      const enc = dev.createCommandEncoder();
      fwd.encode(enc, N, 1, false);
      dev.queue.submit([enc.finish()]);
      fwd.stats.submits++;
      return [];
    }
    dev.queue.writeBuffer(fwd.lastIdx, 0, new Uint32Array(outs.map((o) => o.row)));
    const sp = new DataView(this.seqParams);
    outs.forEach((o, b) => {
      sp.setUint32(16 * b, o.s.seed >>> 0, true);
      sp.setUint32(16 * b + 4, o.s.out.length, true);
      sp.setFloat32(16 * b + 8, opts.temperature ?? 0, true);
      sp.setFloat32(16 * b + 12, opts.topP ?? 1, true);
    });
    dev.queue.writeBuffer(fwd.seqs, 0, this.seqParams, 0, 16 * B);
    const enc = dev.createCommandEncoder();
    fwd.encode(enc, N, B, true);
    enc.copyBufferToBuffer(fwd.tokens, 0, this.staging, 0, 4 * B);
    dev.queue.submit([enc.finish()]);
    fwd.stats.submits++;
    await this.staging.mapAsync(GPUMapMode.READ, 0, 4 * B);
    const tokens = Array.from(new Uint32Array(this.staging.getMappedRange(0, 4 * B)));
    this.staging.unmap();
    throwIfFailed(fwd.gpu);
    return tokens;
  }

  destroy(): void {
    this.staging.destroy();
  }
}
