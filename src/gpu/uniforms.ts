// Uniform layout derived from the WGSL source: a `struct Params { a: u32, b: f32, ... }` of 4-byte
// scalars is packed in declaration order. Reading the layout from the shader keeps TypeScript and
// WGSL from drifting apart; `packUniform` refuses unknown or missing fields.

export type ScalarType = 'u32' | 'f32' | 'i32';
export interface UniformLayout {
  struct: string;
  fields: { name: string; type: ScalarType; offset: number }[];
  /** Byte size, rounded up to 16 as uniform buffers require. */
  size: number;
}

export function uniformLayout(wgsl: string, struct = 'Params'): UniformLayout {
  const m = new RegExp(`struct\\s+${struct}\\s*\\{([^}]*)\\}`).exec(wgsl);
  if (!m) throw new Error(`uniformLayout: struct ${struct} not found in shader`);
  const fields = m[1]
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((decl, i) => {
      const f = /^(\w+)\s*:\s*(\w+)$/.exec(decl);
      if (!f || !['u32', 'f32', 'i32'].includes(f[2]))
        throw new Error(`uniformLayout: ${struct} field "${decl}" is not a 4-byte scalar`);
      return { name: f[1], type: f[2] as ScalarType, offset: 4 * i };
    });
  return { struct, fields, size: Math.max(16, Math.ceil((4 * fields.length) / 16) * 16) };
}

export function packUniform(layout: UniformLayout, values: Record<string, number>): ArrayBuffer {
  const buf = new ArrayBuffer(layout.size);
  const dv = new DataView(buf);
  for (const k of Object.keys(values)) {
    if (!layout.fields.some((f) => f.name === k)) throw new Error(`packUniform: ${layout.struct} has no field "${k}"`);
  }
  for (const f of layout.fields) {
    const v = values[f.name];
    if (v === undefined) throw new Error(`packUniform: ${layout.struct}.${f.name} is missing`);
    if (f.type === 'f32') dv.setFloat32(f.offset, v, true);
    else if (f.type === 'i32') dv.setInt32(f.offset, v, true);
    else {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
        throw new Error(`packUniform: ${layout.struct}.${f.name} = ${v} is not a u32`);
      dv.setUint32(f.offset, v, true);
    }
  }
  return buf;
}
