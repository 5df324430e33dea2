// The embedding gather (src/ops/embedding.ts), with each weight type, against the float64 reference (its backward is
// checked with full training in test/train.test.ts).

import { describe, it } from 'vitest';
import { rng, uniform } from '../../src/rng';
import { expectClose } from '../helpers/compare';
import { runKernel } from '../helpers/run-kernel';
import { storedWeights } from '../helpers/stored-weights';

const u32 = (a: number[]) => Uint32Array.from(a);

describe('embedding', () => {
  // every weight type: exact on the values as stored (a gather does no arithmetic but the unpacking)
  it.each(['f32', 'bf16', 'f16', 'q8', 'q4'] as const)('embedding gather from one row chunk (%s)', async (wt) => {
    const r = rng(4);
    const H = 20,
      rowStart = 8,
      chunkRows = 10;
    const { stored, values: E } = storedWeights(uniform(r, chunkRows * H), wt);
    const ids = u32([8, 3, 17, 12, 18]); // 3 and 18 are outside the chunk: left untouched
    const x0 = new Float32Array(ids.length * H).fill(7);
    const [x] = await runKernel({
      shader: 'embedding',
      params: { N: ids.length, H, rowStart, chunkRows },
      wt,
      buffers: { ids: ids, E: stored, x: x0 },
      workgroups: [1, ids.length],
      read: ['x'],
    });
    const want = new Float64Array(ids.length * H).fill(7);
    ids.forEach((id, i) => {
      if (id >= rowStart && id < rowStart + chunkRows)
        want.set(E.subarray((id - rowStart) * H, (id - rowStart + 1) * H), i * H);
    });
    expectClose('embedding', x, want, 0, 0);
  });
});
