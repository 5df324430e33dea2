// Uploads a checkpoint to GPU buffers. Linear and embedding weights are stored as the chosen weight
// type (by default the checkpoint's: bf16 and f16 checkpoints stay 16-bit, packed two values per
// u32, on every adapter; q8 / q4 quantize them at load, model/quant.ts); norms and biases always
// f32. Tensors larger than one binding are split into row chunks.

import type { Checkpoint } from '../model/checkpoint';
import { tensorF32 } from '../model/checkpoint';
import type { ModelConfig } from '../model/config';
import { toBf16Bits, toF16Bits } from '../model/dtype';
import { quantBytesPerWeight, quantize } from '../model/quant';
import { checkBindable, type Gpu } from '../gpu/device';
import type { WeightType } from '../gpu/shaders';

/** A row range [rowStart, rowStart + rows) of a [R, C] weight. */
export interface Chunk {
  buffer: GPUBuffer;
  rowStart: number;
  rows: number;
}

export interface LayerWeights {
  inputNorm: GPUBuffer; // [H] f32
  q: GPUBuffer; // [nH·hd, H] WT
  k: GPUBuffer; // [nKV·hd, H] WT
  v: GPUBuffer; // [nKV·hd, H] WT
  qBias?: GPUBuffer; // [nH·hd] f32
  kBias?: GPUBuffer; // [nKV·hd] f32
  vBias?: GPUBuffer; // [nKV·hd] f32
  qNorm?: GPUBuffer; // [hd] f32 (Qwen3)
  kNorm?: GPUBuffer; // [hd] f32 (Qwen3)
  o: GPUBuffer; // [H, nH·hd] WT
  postNorm: GPUBuffer; // [H] f32
  gate: GPUBuffer; // [I, H] WT
  up: GPUBuffer; // [I, H] WT
  down: GPUBuffer; // [H, I] WT
}

export interface GpuWeights {
  wt: WeightType;
  embed: Chunk[]; // [V, H] WT, in row chunks
  lmHead: Chunk[]; // [V, H] headWt (the embedding's chunks when tied); a reward model's score head [numLabels, H]
  /** How the head is stored: as `wt`, except a reward model's score head, which stays f32 (tiny, and
   *  trainable: as transformers keeps the output module out of bitsandbytes quantization). */
  headWt: WeightType;
  layers: LayerWeights[];
  finalNorm: GPUBuffer; // [H] f32
  bytes: number;
}

export type WeightDtypeChoice = 'auto' | WeightType;

/** `auto` keeps a 16-bit checkpoint in its own 16-bit type and an f32 one f32; any adapter
 *  stores any choice (16-bit values are packed two per u32 and unpacked in the shaders). */
export function chooseWeightType(ck: Checkpoint, choice: WeightDtypeChoice = 'auto'): WeightType {
  if (choice !== 'auto') return choice;
  return ck.dtype16 ?? 'f32';
}

/** Bytes per weight as stored (quantized: the group scales included). */
export function weightBytes(wt: WeightType): number {
  if (wt === 'q8' || wt === 'q4') return quantBytesPerWeight(wt);
  return wt === 'f32' ? 4 : 2;
}

/** The values as the GPU stores them: f32, 16-bit bit patterns (rounded to nearest even), or quantized words. */
function storedValues(data: Float32Array, type: WeightType): Float32Array | Uint16Array | Uint32Array {
  if (type === 'bf16') return toBf16Bits(data);
  if (type === 'f16') return toF16Bits(data);
  if (type === 'q8' || type === 'q4') return quantize(data, type);
  return data;
}

/**
 * Rows per chunk of a chunked [V, H] weight: a multiple of 4, and for quantized weights one whose
 * elements fill whole blocks of two groups (64 values), so chunk by chunk the groups are the
 * same as the whole tensor's.
 */
function chunkRowStep(H: number, wt: WeightType): number {
  if (wt !== 'q8' && wt !== 'q4') return 4;
  const g = (a: number, b: number): number => (b ? g(b, a % b) : a);
  const rows = 64 / g(H, 64);
  return (rows * 4) / g(rows, 4);
}

/** `maxChunkBytes` caps one chunk below the device limit (tests use it to exercise splitting). */
export function uploadWeights(gpu: Gpu, ck: Checkpoint, wt: WeightType, maxChunkBytes = Infinity): GpuWeights {
  const cfg: ModelConfig = ck.config;
  const dev = gpu.device;
  let bytes = 0;
  const upload = (label: string, data: Float32Array, type: WeightType): GPUBuffer => {
    const payload = storedValues(data, type);
    const size = Math.ceil(payload.byteLength / 4) * 4;
    checkBindable(gpu, size, label);
    const buf = dev.createBuffer({
      label,
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
      mappedAtCreation: true,
    });
    const range = buf.getMappedRange();
    if (payload instanceof Uint16Array) new Uint16Array(range).set(payload);
    else if (payload instanceof Uint32Array) new Uint32Array(range).set(payload);
    else new Float32Array(range).set(payload);
    buf.unmap();
    bytes += size;
    return buf;
  };
  const linear = (name: string) => upload(name, tensorF32(ck, name), wt);
  const vec = (name: string) => upload(name, tensorF32(ck, name), 'f32');
  const chunked = (name: string): Chunk[] => {
    const all = tensorF32(ck, name);
    const H = cfg.hidden;
    const bytesPerRow = H * weightBytes(wt);
    const step = chunkRowStep(H, wt);
    const maxRows = Math.max(
      step,
      Math.floor(
        Math.min(dev.limits.maxStorageBufferBindingSize, dev.limits.maxBufferSize, maxChunkBytes) / bytesPerRow / step,
      ) * step,
    );
    const chunks: Chunk[] = [];
    for (let r = 0; r < cfg.vocab; r += maxRows) {
      const rows = Math.min(maxRows, cfg.vocab - r);
      chunks.push({
        buffer: upload(`${name}[${r}:${r + rows}]`, all.subarray(r * H, (r + rows) * H), wt),
        rowStart: r,
        rows,
      });
    }
    return chunks;
  };

  const embed = chunked('model.embed_tokens.weight');
  const layers: LayerWeights[] = [];
  for (let l = 0; l < cfg.layers; l++) {
    const p = `model.layers.${l}.`;
    layers.push({
      inputNorm: vec(p + 'input_layernorm.weight'),
      q: linear(p + 'self_attn.q_proj.weight'),
      k: linear(p + 'self_attn.k_proj.weight'),
      v: linear(p + 'self_attn.v_proj.weight'),
      qBias: cfg.qkvBias ? vec(p + 'self_attn.q_proj.bias') : undefined,
      kBias: cfg.qkvBias ? vec(p + 'self_attn.k_proj.bias') : undefined,
      vBias: cfg.qkvBias ? vec(p + 'self_attn.v_proj.bias') : undefined,
      qNorm: cfg.qkNorm ? vec(p + 'self_attn.q_norm.weight') : undefined,
      kNorm: cfg.qkNorm ? vec(p + 'self_attn.k_norm.weight') : undefined,
      o: linear(p + 'self_attn.o_proj.weight'),
      postNorm: vec(p + 'post_attention_layernorm.weight'),
      gate: linear(p + 'mlp.gate_proj.weight'),
      up: linear(p + 'mlp.up_proj.weight'),
      down: linear(p + 'mlp.down_proj.weight'),
    });
  }
  const finalNorm = vec('model.norm.weight');
  const lmHead =
    cfg.head === 'score'
      ? [{ buffer: vec('score.weight'), rowStart: 0, rows: cfg.numLabels }]
      : cfg.tieEmbeddings
        ? embed
        : chunked('lm_head.weight');
  const headWt = cfg.head === 'score' ? 'f32' : wt;
  return { wt, headWt, embed, lmHead, layers, finalNorm, bytes };
}

export function destroyWeights(w: GpuWeights): void {
  const all = new Set<GPUBuffer>([w.finalNorm, ...w.embed.map((c) => c.buffer), ...w.lmHead.map((c) => c.buffer)]);
  for (const l of w.layers) for (const b of Object.values(l)) if (b) all.add(b);
  for (const b of all) b.destroy();
}
