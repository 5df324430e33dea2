// RMSNorm (src/ops/rmsnorm.ts): forward against the float64 reference, backward against finite differences.

import { describe, it } from 'vitest';
import { rng, uniform } from '../../src/rng';
import { rmsnorm } from '../reference/ops';
import { expectClose } from '../helpers/compare';
import { runKernel } from '../helpers/run-kernel';
import { dot, numericGrad } from '../reference/grad';

// Each entry with its grid: one workgroup a row, or one thread a row (software adapters).
const ENTRIES: [string, (N: number) => [number]][] = [
  ['', (N) => [N]],
  ['_serial', (N) => [Math.ceil(N / 64)]],
];

describe.each(ENTRIES)('rmsnorm%s', (suffix, grid) => {
  it('rmsnorm forward (and saved rstd)', async () => {
    const r = rng(2);
    const N = 70,
      H = 300,
      eps = 1e-5;
    const x = uniform(r, N * H, -3, 3),
      w = uniform(r, H, 0.5, 1.5);
    const [y, rstd] = await runKernel({
      shader: 'rmsnorm',
      entry: `forward${suffix}`,
      params: { N, H, eps, saveRstd: 1 },
      buffers: { x: x, w: w, y: new Float32Array(N * H), rstd: new Float32Array(N) },
      workgroups: grid(N),
      read: ['y', 'rstd'],
    });
    expectClose('rmsnorm', y, rmsnorm(x, w, N, H, eps), 1e-5, 1e-6);
    const want = Array.from(
      { length: N },
      (_, i) => 1 / Math.sqrt(x.subarray(i * H, (i + 1) * H).reduce((a, v) => a + v * v, 0) / H + eps),
    );
    expectClose('rstd', rstd, want, 1e-5, 0);
  });

  it('rmsnorm backward (accumulating into dx)', async () => {
    const r = rng(41);
    const N = 3,
      H = 24,
      eps = 1e-5;
    const x = uniform(r, N * H, -2, 2),
      w = uniform(r, H, 0.5, 1.5),
      dy = uniform(r, N * H),
      dx0 = uniform(r, N * H);
    const [, rstd] = await runKernel({
      shader: 'rmsnorm',
      entry: `forward${suffix}`,
      params: { N, H, eps, saveRstd: 1 },
      buffers: { x: x, w: w, y: new Float32Array(N * H), rstd: new Float32Array(N) },
      workgroups: grid(N),
      read: ['y', 'rstd'],
    });
    const [dx] = await runKernel({
      shader: 'rmsnorm',
      entry: `backward${suffix}`,
      params: { N, H, accumulate: 1 },
      buffers: { bx: x, bw: w, bdy: dy, brstd: rstd, bdx: dx0 },
      workgroups: grid(N),
      read: ['bdx'],
    });
    const g = numericGrad((xx) => dot(dy, rmsnorm(xx, w, N, H, eps)), x);
    expectClose(
      'drmsnorm',
      dx,
      g.map((v, i) => v + dx0[i]),
      1e-4,
      1e-5,
    );
  });
});
