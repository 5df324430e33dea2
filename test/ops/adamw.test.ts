// The optimizer kernels (shaders/adamw.wgsl, driven by src/train/trainer.ts): one AdamW step and
// the squared-norm reduction against the float64 reference.

import { describe, it } from 'vitest';
import { rng, uniform } from '../../src/rng';
import { expectClose } from '../helpers/compare';
import { runKernel } from '../helpers/run-kernel';
import { dot } from '../reference/grad';

describe('adamw', () => {
  it('AdamW step and the squared-norm reduction', async () => {
    const r = rng(46);
    const n = 1000;
    const th = uniform(r, n),
      g = uniform(r, n),
      m0 = uniform(r, n, -0.1, 0.1),
      v0 = uniform(r, n, 0, 0.1);
    const P = {
      n,
      lr: 1e-2,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0.01,
      bc1: 1 - 0.9 ** 3,
      bc2: 1 - 0.999 ** 3,
      gradScale: 0.5,
    };
    const [th1, m1, v1] = await runKernel({
      shader: 'adamw',
      entry: 'step',
      params: P,
      buffers: { params: th, grads: g, m: m0, v: v0 },
      workgroups: [Math.ceil(n / 256)],
      read: ['params', 'm', 'v'],
    });
    const wm = Array.from(g, (gi, i) => 0.9 * m0[i] + 0.1 * gi * 0.5);
    const wv = Array.from(g, (gi, i) => 0.999 * v0[i] + 0.001 * (gi * 0.5) ** 2);
    expectClose('m', m1, wm, 1e-6, 1e-7);
    expectClose('v', v1, wv, 1e-5, 1e-9);
    expectClose(
      'theta',
      th1,
      Array.from(
        th,
        (t, i) => t - (P.lr * (wm[i] / P.bc1)) / (Math.sqrt(wv[i] / P.bc2) + P.eps) - P.lr * P.weightDecay * t,
      ),
      1e-5,
      1e-7,
    );
    const [part] = await runKernel({
      shader: 'adamw',
      entry: 'sumsq',
      params: P,
      buffers: { grads: g, partial: new Float32Array(3) },
      workgroups: [3],
      read: ['partial'],
    });
    expectClose('Σg²', [part.reduce((a, b) => a + b, 0)], [dot(g, g)], 1e-5, 0);
  });
});
