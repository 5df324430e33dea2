// The block definition as a decode step runs it: RMSNorm folded into the linears that read its
// output (ops/norm-linear.ts). A norm followed by three linears of its output (q, k, v) becomes
// one `normQkv`; a norm followed by two linears (gate, up) and the SwiGLU of their outputs becomes
// one `normGateUp`. Everything else is recorded as written. Prefill and training run the block as
// written (their linears are gemm tiles over many rows, where a separate norm costs little).

import type { BlockOp } from '../model/block';

type Op<K extends BlockOp['op']> = Extract<BlockOp, { op: K }>;

export type DecodeOp =
  | BlockOp
  | { op: 'normQkv'; norm: Op<'rmsnorm'>; linears: [Op<'linear'>, Op<'linear'>, Op<'linear'>] }
  | { op: 'normGateUp'; norm: Op<'rmsnorm'>; gate: Op<'linear'>; up: Op<'linear'>; swiglu: Op<'swiglu'> };

export function fuseForDecode(ops: BlockOp[]): DecodeOp[] {
  const out: DecodeOp[] = [];
  for (let i = 0; i < ops.length; i++) {
    const norm = ops[i];
    if (norm.op !== 'rmsnorm') {
      out.push(norm);
      continue;
    }
    const [a, b, c] = ops.slice(i + 1, i + 4);
    const reads = (x: BlockOp | undefined): x is Op<'linear'> =>
      x?.op === 'linear' && x.inp === norm.out && !x.residual;
    if (reads(a) && reads(b) && reads(c)) {
      out.push({ op: 'normQkv', norm, linears: [a, b, c] });
      i += 3;
    } else if (reads(a) && reads(b) && c?.op === 'swiglu' && c.gate === a.out && c.up === b.out) {
      out.push({ op: 'normGateUp', norm, gate: a, up: b, swiglu: c });
      i += 3;
    } else out.push(norm);
  }
  return out;
}
