// The strict safetensors reader: hand-made bad files, then random and mutated headers (fuzz).

import { describe, expect, it } from 'vitest';
import { SafetensorsError } from '../src/errors';
import { parseSafetensors, writeSafetensors, MAX_HEADER_BYTES } from '../src/model/safetensors';
import { rng } from '../src/rng';

function file(header: unknown, dataBytes: number, pad = ''): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header) + pad);
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

const ok = () =>
  writeSafetensors(
    {
      a: { dtype: 'F32', shape: [2, 3], data: new Float32Array(6) },
      b: { dtype: 'BF16', shape: [4], data: new Uint16Array(4) },
    },
    { format: 'pt' },
  );

describe('safetensors reader', () => {
  it('reads what the writer wrote, with metadata and absolute offsets', () => {
    const h = parseSafetensors(ok(), 'x.safetensors');
    expect(h.metadata).toEqual({ format: 'pt' });
    const a = h.tensors.get('a')!;
    expect(a.shape).toEqual([2, 3]);
    expect(a.end - a.begin).toBe(24);
    expect(h.tensors.get('b')!.begin).toBe(a.end);
    expect((8 + h.headerSize) % 8).toBe(0); // header padded with spaces to 8 bytes
  });

  const bad: [string, Uint8Array, RegExp][] = [
    ['a file shorter than 8 bytes', new Uint8Array(5), /too short/],
    [
      'a header longer than the file',
      (() => {
        const f = ok();
        new DataView(f.buffer).setBigUint64(0, 10n ** 6n, true);
        return f;
      })(),
      /larger than the file/,
    ],
    [
      'a header length of 2^63',
      (() => {
        const f = ok();
        new DataView(f.buffer).setBigUint64(0, 2n ** 63n, true);
        return f;
      })(),
      /larger than the file/,
    ],
    ['a truncated data section', ok().subarray(0, ok().length - 3), /out of range|cover/],
    ['JSON that is not an object', file([1, 2], 0), /not an object/],
    [
      'invalid JSON',
      (() => {
        const f = file({}, 0);
        f[8] = 0x7b;
        f[9] = 0x7b;
        return f;
      })(),
      /not valid UTF-8 JSON/,
    ],
    ['offsets out of range', file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4), /out of range/],
    [
      'overlapping tensors',
      file(
        {
          a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
        },
        12,
      ),
      /overlaps/,
    ],
    [
      'a hole between tensors',
      file(
        {
          a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
          b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
        },
        12,
      ),
      /hole/,
    ],
    [
      'trailing bytes after the last tensor',
      file({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 8),
      /cover/,
    ],
    ['a shape/byte-size mismatch', file({ a: { dtype: 'F16', shape: [3], data_offsets: [0, 4] } }, 4), /needs 6 bytes/],
    ['an unknown dtype', file({ a: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, 1), /unsupported dtype/],
    ['a negative dimension', file({ a: { dtype: 'U8', shape: [-1], data_offsets: [0, 0] } }, 0), /non-negative/],
    ['non-string metadata', file({ __metadata__: { a: 1 } }, 0), /not a string/],
    ['end before begin', file({ a: { dtype: 'U8', shape: [0], data_offsets: [4, 0] } }, 4), /out of range/],
  ];
  for (const [what, bytes, msg] of bad) {
    it(`rejects ${what} with a SafetensorsError naming the file`, () => {
      let err: unknown;
      try {
        parseSafetensors(bytes, 'bad.safetensors');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SafetensorsError);
      expect((err as Error).message).toMatch(/^bad\.safetensors: /);
      expect((err as Error).message).toMatch(msg);
    });
  }

  it('caps the header size so a hostile length cannot make it allocate', () => {
    const f = new Uint8Array(16);
    new DataView(f.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES + 1), true);
    expect(() => parseSafetensors(f, 'big')).toThrow(SafetensorsError);
  });

  it('fuzz: random bytes and mutated valid files never hang and only throw SafetensorsError', () => {
    const r = rng(123);
    const base = writeSafetensors(
      {
        'model.layers.0.w': { dtype: 'F32', shape: [3, 5], data: new Float32Array(15) },
        'model.layers.0.b': { dtype: 'F16', shape: [7], data: new Uint16Array(7) },
        e: { dtype: 'U8', shape: [0], data: new Uint8Array(0) },
      },
      { format: 'pt' },
    );
    const t0 = Date.now();
    let parsed = 0;
    for (let i = 0; i < 3000; i++) {
      let f: Uint8Array;
      const mode = i % 4;
      if (mode === 0) f = Uint8Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256));
      else {
        f = base.slice();
        const flips = 1 + Math.floor(r() * 4);
        for (let k = 0; k < flips; k++) {
          // mode 1: anywhere; mode 2: inside the JSON header; mode 3: the length prefix or truncation
          const at =
            mode === 1
              ? Math.floor(r() * f.length)
              : mode === 2
                ? 8 + Math.floor(r() * (f.length - 8 - 96))
                : Math.floor(r() * 8);
          f[at] = mode === 2 ? ' {}[]",:0123456789-eE.FUBI'.charCodeAt(Math.floor(r() * 27)) : Math.floor(r() * 256);
        }
        if (mode === 3 && r() < 0.5) f = f.subarray(0, Math.floor(r() * f.length));
      }
      try {
        const h = parseSafetensors(f, 'fuzz');
        parsed++;
        // Whatever parsed must be self-consistent: every range inside the file.
        for (const t of h.tensors.values()) expect(t.begin >= 8 && t.end <= f.length && t.begin <= t.end).toBe(true);
      } catch (e) {
        if (!(e instanceof SafetensorsError))
          throw new Error(`fuzz case ${i}: ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(parsed).toBeGreaterThan(0); // some mutations (e.g. in padding) stay valid
  });
});
