// SwiGLU (shaders/swiglu.wgsl): act = silu(gate) ⊙ up, element-wise over n = rows·I values.
// Reference: test/reference/ops.ts `silu`; tests: test/ops/swiglu.test.ts.

import type { Binding } from '../gpu/kernel';
import { elementsGrid, type Sized, type Tape, sizeOf } from '../gpu/tape';

export function swigluForward(t: Tape, a: { out: Binding; gate: Binding; up: Binding; n: Sized<number> }): void {
  const n = sizeOf(a.n);
  t.dispatch(
    'swiglu',
    t.res.kernel('swiglu', 'forward'),
    (s) => ({ n: n(s) }),
    { gate: a.gate, up: a.up, act: a.out },
    (s) => elementsGrid(n(s), 256),
  );
}

/** dGate, dUp = ∂loss/∂gate, ∂loss/∂up from dAct and the saved forward inputs. */
export function swigluBackward(
  t: Tape,
  a: { dgate: Binding; dup: Binding; dout: Binding; gate: Binding; up: Binding; n: number },
): void {
  t.dispatch(
    'swiglu',
    t.res.kernel('swiglu', 'backward'),
    { n: a.n },
    { bgate: a.gate, bup: a.up, dAct: a.dout, dGate: a.dgate, dUp: a.dup },
    elementsGrid(a.n, 256),
  );
}
