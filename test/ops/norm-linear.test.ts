// RMSNorm folded into the linears that read it (src/ops/norm-linear.ts): every entry (workgroup,
// with the tree or the subgroup reduction, and serial) against the float64 reference of rmsnorm then linear(s) (then SwiGLU), with f32,
// packed bf16 and quantized q8 / q4 weights (the reference on the stored values), a row count that
// is not a power of two and a K that is not a multiple of 64.

import { describe, it } from 'vitest';
import { rng, uniform } from '../../src/rng';
import type { WeightType } from '../../src/gpu/shaders';
import { linear, rmsnorm, silu } from '../reference/ops';
import { expectClose } from '../helpers/compare';
import { runKernel } from '../helpers/run-kernel';
import { storedWeights } from '../helpers/stored-weights';
import { subgroupsHere } from '../helpers/gpu';

/** The subgroup entries run where the adapter grants subgroups, always on SwiftShader (subgroupsHere). */
const SUBGROUPS = await subgroupsHere();

const N = 5;
const K = 70;
const eps = 1e-5;

/** Weights as stored and the values the reference uses. */
const weights = (r: () => number, n: number, wt: WeightType) => storedWeights(uniform(r, n), wt);
const TYPES = ['f32', 'bf16', 'q8', 'q4'] as const;

describe('norm_linear', () => {
  for (const wt of TYPES)
    for (const [entry, subgroups] of [
      ['qkv', false],
      ['qkv', true],
      ['qkv_serial', false],
    ] as const)
      it.runIf(SUBGROUPS || !subgroups)(
        `${entry}${subgroups ? ' (subgroup reduction)' : ''}, ${wt} weights: q, k, v = rmsnorm(x)·Wᵀ + b into three regions`,
        async () => {
          const r = rng(70);
          const [O1, O2, O3] = [24, 8, 8];
          const x = uniform(r, N * K, -2, 2);
          const g = uniform(r, K, 0.5, 1.5);
          const W = [O1, O2, O3].map((o) => weights(r, o * K, wt));
          const b = uniform(r, O1 + O2 + O3);
          const yOff = [0, 128, 192]; // regions apart, as the plan's 256-byte aligned views are
          const y0 = uniform(r, 256);
          const [y] = await runKernel({
            shader: 'normLinear',
            entry,
            wt,
            subgroups,
            params: { N, K, O1, O2, O3, eps, hasBias: 1, yOff1: yOff[0], yOff2: yOff[1], yOff3: yOff[2] },
            buffers: { x, g, W1: W[0].stored, W2: W[1].stored, W3: W[2].stored, b, y: y0 },
            workgroups: entry === 'qkv' ? [O1 + O2 + O3] : [1],
            read: ['y'],
          });
          const xn = rmsnorm(x, g, N, K, eps);
          const want = Float64Array.from(y0);
          let bOff = 0;
          [O1, O2, O3].forEach((O, j) => {
            const ref = linear(xn, W[j].values, N, K, O, b.subarray(bOff, bOff + O));
            want.set(ref, yOff[j]);
            bOff += O;
          });
          expectClose(`${entry} ${wt}`, y, want, 1e-5, 1e-5);
        },
      );

  for (const wt of TYPES)
    for (const [entry, subgroups] of [
      ['gate_up', false],
      ['gate_up', true],
      ['gate_up_serial', false],
    ] as const)
      it.runIf(SUBGROUPS || !subgroups)(
        `${entry}${subgroups ? ' (subgroup reduction)' : ''}, ${wt} weights: act = silu(rmsnorm(x)·W_gateᵀ) ⊙ rmsnorm(x)·W_upᵀ`,
        async () => {
          const r = rng(71);
          const O = 40;
          const x = uniform(r, N * K, -2, 2);
          const g = uniform(r, K, 0.5, 1.5);
          const gate = weights(r, O * K, wt);
          const up = weights(r, O * K, wt);
          const [act] = await runKernel({
            shader: 'normLinear',
            entry,
            wt,
            subgroups,
            params: { N, K, O1: O, O2: O, O3: 0, eps, hasBias: 0, yOff1: 0, yOff2: 0, yOff3: 0 },
            buffers: { x, g, W1: gate.stored, W2: up.stored, W3: gate.stored, y: new Float32Array(N * O) },
            workgroups: entry === 'gate_up' ? [O] : [1],
            read: ['y'],
          });
          const xn = rmsnorm(x, g, N, K, eps);
          const gz = linear(xn, gate.values, N, K, O);
          const uz = linear(xn, up.values, N, K, O);
          expectClose(
            `${entry} ${wt}`,
            act,
            Float64Array.from(gz, (z, i) => silu(z) * uz[i]),
            1e-5,
            1e-5,
          );
        },
      );
});
