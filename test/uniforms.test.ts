// The typed helpers between TypeScript and WGSL: uniform layout read from the shader source, and
// the bindings each entry point uses.

import { describe, expect, it } from 'vitest';
import { packUniform, uniformLayout } from '../src/gpu/uniforms';
import { entryInterface, evalDim, Kernel } from '../src/gpu/kernel';
import { SHADERS } from '../src/gpu/shaders';
import { testGpu } from './helpers/gpu';

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
    expect(f.bindings.map((x) => `${x.binding}:${x.type}`)).toEqual([
      '0:uniform',
      '1:read-only-storage',
      '2:read-only-storage',
      '3:storage',
      '4:storage',
    ]);
    expect(b.bindings.map((x) => `${x.binding}:${x.type}`)).toEqual([
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

describe('bindings by name', () => {
  it('reads each binding name, element size and shape comment', () => {
    const f = entryInterface(SHADERS.rmsnorm, 'forward').bindings;
    expect(f.map((b) => b.name)).toEqual(['p', 'x', 'w', 'y', 'rstd']);
    expect(f.find((b) => b.name === 'x')?.shape).toEqual(['N', 'H']);
    const s = entryInterface(SHADERS.sample, 'main').bindings;
    expect(s.find((b) => b.name === 'seqs')?.elemBytes).toBe(16); // SeqParams: 4 scalars
    const m = entryInterface(SHADERS.matmul, 'few_rows').bindings;
    expect(m.find((b) => b.name === 'b')?.dummyWhen).toBe('hasBias');
  });

  it('evaluates shape dimensions from the uniform values', () => {
    const v = { N: 3, H: 8, hd: 6, U: 4 };
    expect(evalDim('H', v)).toBe(8);
    expect(evalDim('hd/2', v)).toBe(3);
    expect(evalDim('U + 1', v)).toBe(5);
    expect(evalDim('2', v)).toBe(2);
    expect(evalDim('N*H', v)).toBe(24);
    expect(evalDim('slots', v)).toBeUndefined();
  });

  it('throws on a missing, unknown or too small buffer, naming kernel, entry and binding', async () => {
    const gpu = await testGpu();
    const dev = gpu.device;
    const k = new Kernel(dev, 'rmsnorm', { entry: 'forward' });
    const buf = (floats: number) =>
      dev.createBuffer({ size: floats * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    const params = k.uniform({ N: 4, H: 8, eps: 1e-5, saveRstd: 0 });
    const ok = { x: buf(32), w: buf(8), y: buf(32), rstd: buf(4) };
    expect(k.bind(params, ok)).toBeTruthy();
    const { rstd: _, ...missing } = ok;
    expect(() => k.bind(params, missing)).toThrow(/rmsnorm\.forward: binding "rstd" is missing/);
    expect(() => k.bind(params, { ...ok, dy: buf(32) })).toThrow(/rmsnorm\.forward: no binding named "dy"/);
    // x and w swapped: x [N, H] needs 128 bytes
    expect(() => k.bind(params, { ...ok, x: ok.w, w: ok.x })).toThrow(
      /rmsnorm\.forward: binding "x" \[N=4, H=8\] needs 128 bytes, got a buffer of 32/,
    );
    // a view counts its own size
    const view = { buffer: ok.y, offset: 0, size: 64 };
    expect(() => k.bind(params, { ...ok, y: view })).toThrow(/binding "y" .* needs 128 bytes, got a buffer of 64/);
  });
});
