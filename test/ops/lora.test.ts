// The LoRA op (src/ops/lora.ts), recorded on a Tape as the inference plan and the training graph
// record it: forward y += s·(x·Aᵀ)·Bᵀ against the float64 reference, and the four gradients
// (dA, dB accumulated, dx accumulated) against central finite differences of Σ dy ⊙ y.

import { describe, it } from 'vitest';
import { rng, uniform } from '../../src/rng';
import { Resources } from '../../src/gpu/tape';
import { readF32 } from '../../src/gpu/readback';
import { loraBackward, loraForward } from '../../src/ops/lora';
import { linear } from '../reference/ops';
import { dot, numericGrad } from '../reference/grad';
import { expectClose } from '../helpers/compare';
import { noGpuErrors, testGpu } from '../helpers/gpu';

const rows = 5;
const inF = 12;
const outF = 9;
const r = 3;
const scale = 0.75;

/** y = y0 + s·(x·Aᵀ)·Bᵀ in float64. */
function refForward(x: ArrayLike<number>, A: ArrayLike<number>, B: ArrayLike<number>, y0: ArrayLike<number>) {
  const t = linear(x, A, rows, inF, r);
  const d = linear(t, B, rows, r, outF);
  return Float64Array.from(y0, (v, i) => v + scale * d[i]);
}

describe('lora', () => {
  it('forward and backward on a tape, against the float64 reference and finite differences', async () => {
    const gpu = await testGpu();
    const g = rng(60);
    const [x, A, B, y0, dy] = [rows * inF, r * inF, outF * r, rows * outF, rows * outF].map((n) => uniform(g, n));
    const [dA0, dB0, dx0] = [r * inF, outF * r, rows * inF].map((n) => uniform(g, n));
    await noGpuErrors(gpu, async () => {
      const res = new Resources(gpu, { decode: false });
      const buf = (label: string, data: Float32Array) => {
        const b = res.buffer(label, data.length);
        gpu.device.queue.writeBuffer(b, 0, data);
        return b;
      };
      const b = {
        ...{ x: buf('x', x), A: buf('A', A), B: buf('B', B), y: buf('y', y0), dy: buf('dy', dy) },
        ...{ dA: buf('dA', dA0), dB: buf('dB', dB0), dx: buf('dx', dx0) },
        ...{ t: res.buffer('t', rows * r), dt: res.buffer('dt', rows * r) },
      };
      const tape = res.tape();
      const dims = { rows, inF, outF, r, scale };
      loraForward(tape, { out: b.y, tmp: b.t, inp: b.x, A: b.A, B: b.B, ...dims });
      const grads = { dinp: b.dx, dA: b.dA, dB: b.dB, dtmp: b.dt, dout: b.dy };
      loraBackward(tape, { ...grads, inp: b.x, tmp: b.t, A: b.A, B: b.B, ...dims });
      const enc = gpu.device.createCommandEncoder();
      res.record(enc, tape.steps, { N: rows, B: 1 });
      gpu.device.queue.submit([enc.finish()]);
      const read = (k: GPUBuffer, n: number) => readF32(gpu.device, k, n);
      expectClose('y', await read(b.y, rows * outF), refForward(x, A, B, y0), 1e-5, 1e-6);
      const loss = (xx: ArrayLike<number>, AA: ArrayLike<number>, BB: ArrayLike<number>) =>
        dot(dy, refForward(xx, AA, BB, y0));
      const plus = (g0: Float32Array, d: Float64Array) => Float64Array.from(d, (v, i) => g0[i] + v);
      const want = {
        dA: plus(
          dA0,
          numericGrad((a) => loss(x, a, B), A),
        ),
        dB: plus(
          dB0,
          numericGrad((bb) => loss(x, A, bb), B),
        ),
        dx: plus(
          dx0,
          numericGrad((xx) => loss(xx, A, B), x),
        ),
      };
      expectClose('dA', await read(b.dA, r * inF), want.dA, 1e-4, 1e-5);
      expectClose('dB', await read(b.dB, outF * r), want.dB, 1e-4, 1e-5);
      expectClose('dx', await read(b.dx, rows * inF), want.dx, 1e-4, 1e-5);
      res.destroy();
    });
  });
});
