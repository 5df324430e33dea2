// Tolerance checks that report the worst element, as llm.c and tinygrad do.

export interface Diff {
  maxAbs: number;
  maxRel: number;
  worst: number;
}

/** Passes when |a − b| ≤ atol + rtol·|b| everywhere; otherwise throws naming the worst index. */
export function expectClose(
  what: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  rtol: number,
  atol: number,
): Diff {
  if (got.length !== want.length) throw new Error(`${what}: length ${got.length} != ${want.length}`);
  let worst = -1,
    worstExcess = 0,
    maxAbs = 0,
    maxRel = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= atol + rtol * Math.abs(want[i]))) {
      const excess = Number.isNaN(d) ? Infinity : d - (atol + rtol * Math.abs(want[i]));
      if (worst < 0 || excess > worstExcess) {
        worst = i;
        worstExcess = excess;
      }
    }
    if (d > maxAbs || Number.isNaN(d)) maxAbs = Number.isNaN(d) ? NaN : d;
    maxRel = Math.max(maxRel, d / (Math.abs(want[i]) + 1e-12));
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: mismatch at index ${worst}: got ${got[worst]}, want ${want[worst]} (rtol ${rtol}, atol ${atol}; max abs diff ${maxAbs})`,
    );
  }
  return { maxAbs, maxRel, worst };
}
