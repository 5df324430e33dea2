// SwiGLU (src/ops/swiglu.ts): forward against the float64 reference, backward against finite differences.

import { describe, it } from 'vitest';
import { rng, uniform } from '../../src/rng';
import { silu } from '../reference/ops';
import { expectClose } from '../helpers/compare';
import { runKernel } from '../helpers/run-kernel';
import { dot, numericGrad } from '../reference/grad';

describe('swiglu', () => {
  it('swiglu forward', async () => {
    const r = rng(3);
    const n = 1000;
    const g = uniform(r, n, -8, 8),
      up = uniform(r, n, -2, 2);
    const [a] = await runKernel({
      shader: 'swiglu',
      entry: 'forward',
      params: { n },
      buffers: { gate: g, up: up, act: new Float32Array(n) },
      workgroups: [Math.ceil(n / 256)],
      read: ['act'],
    });
    expectClose(
      'swiglu',
      a,
      Array.from(g, (z, i) => silu(z) * up[i]),
      1e-5,
      1e-6,
    );
  });

  it('swiglu backward', async () => {
    const r = rng(42);
    const n = 40;
    const gate = uniform(r, n, -5, 5),
      up = uniform(r, n, -2, 2),
      dAct = uniform(r, n);
    const [dGate, dUp] = await runKernel({
      shader: 'swiglu',
      entry: 'backward',
      params: { n },
      buffers: { bgate: gate, bup: up, dAct: dAct, dGate: new Float32Array(n), dUp: new Float32Array(n) },
      workgroups: [1],
      read: ['dGate', 'dUp'],
    });
    const f = (gg: Float64Array, uu: ArrayLike<number>) =>
      dot(
        dAct,
        Array.from(gg, (z, i) => silu(z) * uu[i]),
      );
    expectClose(
      'dGate',
      dGate,
      numericGrad((gg) => f(gg, up), gate),
      1e-4,
      1e-5,
    );
    expectClose(
      'dUp',
      dUp,
      numericGrad((uu) => f(Float64Array.from(gate), uu), up),
      1e-4,
      1e-5,
    );
  });
});
