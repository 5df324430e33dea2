// Central finite differences in float64: the ground truth for every backward pass.

/** ∂f/∂x[i] for every i, with f: R^n → R evaluated in float64. */
export function numericGrad(f: (x: Float64Array) => number, x0: ArrayLike<number>, h = 1e-6): Float64Array {
  const x = Float64Array.from(x0);
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    x[i] = v + h;
    const fp = f(x);
    x[i] = v - h;
    const fm = f(x);
    x[i] = v;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/** ∂f/∂x[i] for one i, with x edited in place (and restored) and f reading it: for large weight sets. */
export function numericGradAt(x: { [i: number]: number }, i: number, f: () => number, h = 1e-6): number {
  const v = x[i];
  x[i] = v + h;
  const fp = f();
  x[i] = v - h;
  const fm = f();
  x[i] = v;
  return (fp - fm) / (2 * h);
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
