// The typed helpers between TypeScript and WGSL: uniform layout read from the shader source, and
// the bindings each entry point uses.

import { describe, expect, it } from 'vitest';
import { packUniform, uniformLayout } from '../src/gpu/uniforms';
import { entryInterface } from '../src/gpu/kernel';
import { SHADERS } from '../src/gpu/shaders';

describe('uniform layout', () => {
  it('reads struct Params field by field, 4 bytes each, size rounded to 16', () => {
    const l = uniformLayout(SHADERS.matmul);
    expect(l.fields.map((f) => `${f.name}:${f.type}@${f.offset}`)).toEqual([
      'N:u32@0',
      'K:u32@4',
      'O:u32@8',
      'ldy:u32@12',
      'yOffset:u32@16',
      'hasBias:u32@20',
      'accumulate:u32@24',
      'scale:f32@28',
    ]);
    expect(l.size).toBe(32);
    const buf = new DataView(packUniform(uniformLayout(SHADERS.rmsnorm), { N: 3, H: 64, eps: 1e-5, saveRstd: 1 }));
    expect([buf.getUint32(0, true), buf.getUint32(4, true), buf.getFloat32(8, true), buf.getUint32(12, true)]).toEqual([
      3,
      64,
      Math.fround(1e-5),
      1,
    ]);
  });
  it('every shader has a parsable Params struct', () => {
    for (const [name, src] of Object.entries(SHADERS))
      expect(uniformLayout(src).fields.length, name).toBeGreaterThan(0);
  });
  it('refuses missing, unknown and non-u32 values', () => {
    const l = uniformLayout(SHADERS.swiglu);
    expect(() => packUniform(l, {})).toThrow(/n is missing/);
    expect(() => packUniform(l, { n: 1, m: 2 })).toThrow(/no field "m"/);
    expect(() => packUniform(l, { n: -1 })).toThrow(/not a u32/);
    expect(() => packUniform(l, { n: 1.5 })).toThrow(/not a u32/);
  });
});

describe('entry-point interface', () => {
  it('forward and backward of one file bind different variables at the same slots', () => {
    const f = entryInterface(SHADERS.rmsnorm, 'forward');
    const b = entryInterface(SHADERS.rmsnorm, 'backward');
    expect(f.paramsStruct).toBe('Params');
    expect(b.paramsStruct).toBe('BackParams');
    expect(f.bindings.map((x) => `${x.binding}:${x.buffer!.type}`)).toEqual([
      '0:uniform',
      '1:read-only-storage',
      '2:read-only-storage',
      '3:storage',
      '4:storage',
    ]);
    expect(b.bindings.map((x) => `${x.binding}:${x.buffer!.type}`)).toEqual([
      '0:uniform',
      '1:read-only-storage',
      '2:read-only-storage',
      '3:read-only-storage',
      '4:read-only-storage',
      '5:storage',
    ]);
    // helper functions count: the sampler's reduceSum uses the workgroup array, the entry uses all 4 bindings
    expect(entryInterface(SHADERS.sample, 'main').bindings).toHaveLength(4);
  });
  it('refuses a local that shadows a binding, and a missing entry point', () => {
    const src =
      '@group(0) @binding(0) var<uniform> p: Params;\n@group(0) @binding(1) var<storage, read> k: array<f32>;\nstruct Params { n: u32 }\n@compute @workgroup_size(1) fn main() { let k = 1u; }';
    expect(() => entryInterface(src, 'main')).toThrow(/local "k" shadows a binding/);
    expect(() => entryInterface(src, 'nope')).toThrow(/entry point nope not found/);
  });
});
