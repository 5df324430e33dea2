// Strict safetensors reader and writer (format: 8-byte LE header length N, N bytes of JSON,
// then the data section). Rejects anything a careful reader must reject (FORMATS.md) with a
// SafetensorsError that names the file and the tensor. Never allocates more than the file.

import { SafetensorsError } from '../errors';

export type Dtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';
export const DTYPE_BYTES: Record<Dtype, number> = {
  F64: 8,
  I64: 8,
  F32: 4,
  I32: 4,
  F16: 2,
  BF16: 2,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Absolute byte range in the file, end exclusive. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  file: string;
  /** Size of the JSON header in bytes (N). The data section starts at 8 + N. */
  headerSize: number;
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

/** Largest header we accept; real headers are a few hundred KiB at most. */
export const MAX_HEADER_BYTES = 100 * 2 ** 20;

function fail(
  file: string,
  what: string,
  hint = 'The file is corrupt or was truncated by an interrupted download: delete it and download it again.',
): never {
  throw new SafetensorsError(`${file}: ${what}`, hint);
}

/** Reads N from the first 8 bytes and checks it against the file size. */
export function headerLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || prefix.byteLength < 8)
    fail(file, `file is ${fileSize} bytes, too short for a safetensors header`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) fail(file, `header length ${n} is larger than the file (${fileSize} bytes)`);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (n < 2n) fail(file, `header length ${n} is too small to hold a JSON object`);
  return Number(n);
}

/**
 * Parses and validates the header. `headerBytes` are the N bytes after the length prefix;
 * `fileSize` is the whole file's size, so offsets can be checked before any data is read.
 */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  const headerSize = headerBytes.byteLength;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    fail(file, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(file, 'header JSON is not an object');
  const dataStart = 8 + headerSize;
  const dataLen = fileSize - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(file, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(file, `__metadata__.${k} is not a string`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    if (typeof raw !== 'object' || raw === null) fail(file, `tensor "${name}": entry is not an object`);
    const { dtype, shape, data_offsets: offs } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES))
      fail(file, `tensor "${name}": unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0))
      fail(file, `tensor "${name}": shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offs) || offs.length !== 2 || offs.some((o) => !Number.isSafeInteger(o) || o < 0))
      fail(file, `tensor "${name}": data_offsets ${JSON.stringify(offs)} is not [begin, end]`);
    const [b, e] = offs as number[];
    if (b > e || e > dataLen)
      fail(file, `tensor "${name}": data_offsets [${b}, ${e}] out of range (data section is ${dataLen} bytes)`);
    let count = 1;
    for (const d of shape as number[]) {
      count *= d;
      if (count > Number.MAX_SAFE_INTEGER) fail(file, `tensor "${name}": shape overflows`);
    }
    const want = count * DTYPE_BYTES[dtype as Dtype];
    if (want !== e - b)
      fail(
        file,
        `tensor "${name}": ${dtype}${JSON.stringify(shape)} needs ${want} bytes but data_offsets span ${e - b}`,
      );
    tensors.set(name, {
      name,
      dtype: dtype as Dtype,
      shape: shape as number[],
      begin: dataStart + b,
      end: dataStart + e,
    });
  }
  // Ranges must tile the data section: sorted, no overlap, no hole, nothing after the last.
  const sorted = [...tensors.values()].sort((x, y) => x.begin - y.begin || x.end - y.end);
  let cursor = dataStart;
  for (const t of sorted) {
    if (t.begin < cursor) fail(file, `tensor "${t.name}" overlaps the previous tensor`);
    if (t.begin > cursor) fail(file, `hole of ${t.begin - cursor} bytes before tensor "${t.name}"`);
    cursor = t.end;
  }
  if (cursor !== fileSize) fail(file, `data section is ${dataLen} bytes but tensors cover ${cursor - dataStart}`);
  return { file, headerSize, tensors, metadata };
}

/** Parses a whole safetensors file held in memory. */
export function parseSafetensors(bytes: Uint8Array, file: string): SafetensorsHeader {
  const n = headerLength(bytes, bytes.byteLength, file);
  return parseHeader(bytes.subarray(8, 8 + n), bytes.byteLength, file);
}

export interface TensorToWrite {
  dtype: Dtype;
  shape: number[];
  data: ArrayBufferView;
}

/** Serialises tensors (in the given order) to a safetensors file, header padded to 8 bytes. */
export function writeSafetensors(
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = t.data.byteLength;
    const want = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    if (bytes !== want)
      throw new SafetensorsError(
        `writeSafetensors: tensor "${name}" has ${bytes} bytes, shape ${JSON.stringify(t.shape)} ${t.dtype} needs ` +
          `${want}`,
      );
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  while ((json.length + 8) % 8 !== 0) json += ' ';
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.byteLength;
  for (const t of Object.values(tensors)) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}
