// Token embedding (shaders/embedding.wgsl): x[r] = E[ids[r]], one dispatch per row chunk of E
// (large vocabularies are split over several buffers). Backward (full training): dE[id] += Σ dx
// over the rows holding id, with the rows grouped by id on the host.
// Shapes: ids [rows]   E chunk [chunkRows, H]   x, dx [rows, H]   dE [V, H]
// Reference: a row gather; tests: test/ops/embedding.test.ts.

import type { Chunk } from '../engine/weights';
import type { Binding, Kernel } from '../gpu/kernel';
import type { WeightType } from '../gpu/shaders';
import { type PassSizes, type Sized, sizeOf, type Tape } from '../gpu/tape';

export function embeddingForward(
  t: Tape,
  a: { out: Binding; ids: Binding; table: Chunk[]; rows: Sized<number>; H: number; wt: WeightType },
): void {
  const rows = sizeOf(a.rows);
  const k = t.res.kernel('embedding', 'main', a.wt);
  for (const c of a.table) {
    const params = (s: PassSizes) => ({ N: rows(s), H: a.H, rowStart: c.rowStart, chunkRows: c.rows });
    t.dispatch('embedding', k, params, { ids: a.ids, E: c.buffer, x: a.out }, (s) => [Math.ceil(a.H / 64), rows(s)]);
  }
}

/** The backward's inputs, rewritten per batch by `writeEmbeddingRows`. */
export interface EmbeddingRows {
  kernel: Kernel;
  params: GPUBuffer;
  uniq: GPUBuffer;
  seg: GPUBuffer;
  byId: GPUBuffer;
  H: number;
}

export function embeddingBackward(
  t: Tape,
  a: { dtable: Binding; dout: Binding; rows: number; H: number },
): EmbeddingRows {
  const { res } = t;
  const k = res.kernel('embedding', 'backward');
  const g: EmbeddingRows = {
    kernel: k,
    params: res.uniform(k, { U: 0, H: a.H }, true),
    uniq: res.buffer('embUniq[N]', a.rows),
    seg: res.buffer('embSeg[N+1]', a.rows + 1),
    byId: res.buffer('embRows[N]', a.rows),
    H: a.H,
  };
  const bufs = { uniq: g.uniq, seg: g.seg, byId: g.byId, dx: a.dout, dE: a.dtable };
  t.dispatch('embedding', k, { uniform: g.params }, bufs, [a.rows]);
  return g;
}

/** Groups the batch's rows by token id (a stable sort) for the embedding backward. */
export function writeEmbeddingRows(dev: GPUDevice, g: EmbeddingRows, ids: Uint32Array): void {
  const order = Array.from(ids.keys()).sort((a, b) => ids[a] - ids[b] || a - b);
  const uniq: number[] = [];
  const seg: number[] = [];
  order.forEach((row, j) => {
    if (j === 0 || ids[row] !== ids[order[j - 1]]) {
      uniq.push(ids[row]);
      seg.push(j);
    }
  });
  seg.push(order.length);
  dev.queue.writeBuffer(g.uniq, 0, new Uint32Array(uniq));
  dev.queue.writeBuffer(g.seg, 0, new Uint32Array(seg));
  dev.queue.writeBuffer(g.byId, 0, new Uint32Array(order));
  g.kernel.update(g.params, { U: uniq.length, H: g.H });
}
