// Float64 reference ops. Plain loops, never optimised: the ground truth every kernel is tested
// against. Arrays are row-major; shapes in comments.

export type F64 = Float64Array;

/** y[N, O] = x[N, K] · W[O, K]ᵀ + b[O] */
export function linear(
  x: ArrayLike<number>,
  W: ArrayLike<number>,
  N: number,
  K: number,
  O: number,
  b?: ArrayLike<number>,
): F64 {
  const y = new Float64Array(N * O);
  for (let r = 0; r < N; r++)
    for (let o = 0; o < O; o++) {
      let s = b ? b[o] : 0;
      for (let k = 0; k < K; k++) s += x[r * K + k] * W[o * K + k];
      y[r * O + o] = s;
    }
  return y;
}

/** y[N, H] = x · rsqrt(mean(x²) + eps) · w */
export function rmsnorm(x: ArrayLike<number>, w: ArrayLike<number>, N: number, H: number, eps: number): F64 {
  const y = new Float64Array(N * H);
  for (let r = 0; r < N; r++) {
    let ss = 0;
    for (let i = 0; i < H; i++) ss += x[r * H + i] ** 2;
    const inv = 1 / Math.sqrt(ss / H + eps);
    for (let i = 0; i < H; i++) y[r * H + i] = x[r * H + i] * inv * w[i];
  }
  return y;
}

/** Rotate-half RoPE of one head vector v[hd] at position pos. */
export function rope(v: ArrayLike<number>, pos: number, theta: number): F64 {
  const hd = v.length;
  const half = hd / 2;
  const out = new Float64Array(hd);
  for (let i = 0; i < half; i++) {
    const a = pos * Math.pow(theta, (-2 * i) / hd);
    const c = Math.cos(a),
      s = Math.sin(a);
    out[i] = v[i] * c - v[i + half] * s;
    out[i + half] = v[i + half] * c + v[i] * s;
  }
  return out;
}

export function silu(z: number): number {
  return z / (1 + Math.exp(-z));
}

/** Softmax-weighted sum for one query: q[hd], keys/values [t][hd] → out[hd], probabilities [t]. */
export function attendOne(
  q: ArrayLike<number>,
  keys: ArrayLike<number>[],
  values: ArrayLike<number>[],
): { out: F64; p: F64 } {
  const hd = q.length;
  const scale = 1 / Math.sqrt(hd);
  const s = keys.map((k) => {
    let d = 0;
    for (let i = 0; i < hd; i++) d += q[i] * k[i];
    return d * scale;
  });
  const m = Math.max(...s);
  const e = s.map((x) => Math.exp(x - m));
  const z = e.reduce((a, b) => a + b, 0);
  const p = Float64Array.from(e, (x) => x / z);
  const out = new Float64Array(hd);
  values.forEach((v, t) => {
    for (let i = 0; i < hd; i++) out[i] += p[t] * v[i];
  });
  return { out, p };
}

export function logSoftmax(l: ArrayLike<number>): F64 {
  let m = -Infinity;
  for (let i = 0; i < l.length; i++) m = Math.max(m, l[i]);
  let z = 0;
  for (let i = 0; i < l.length; i++) z += Math.exp(l[i] - m);
  const lz = m + Math.log(z);
  return Float64Array.from(l as ArrayLike<number>, (x) => x - lz);
}

export function argmax(l: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < l.length; i++) if (l[i] > l[best]) best = i;
  return best;
}
