// Reference for the GPU sampler: the same counter-based random draw (integer math, exact), the
// nucleus and the inverse CDF computed in float64.

function pcg(v: number): number {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> (((s >>> 28) + 4) >>> 0)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

export function uniform01(seed: number, step: number): number {
  const h = pcg((pcg(seed >>> 0) ^ Math.imul(step, 0x9e3779b9)) >>> 0);
  return Math.fround((h >>> 8) * (1 / 16777216));
}

/** Unnormalised probabilities exp((l − max)/T). */
export function weights(logits: ArrayLike<number>, temperature: number): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) m = Math.max(m, logits[i]);
  return Float64Array.from(logits as ArrayLike<number>, (l) => Math.exp((l - m) / temperature));
}

/** The nucleus: smallest set of most likely tokens with mass ≥ topP (all ties at the edge kept). */
export function nucleus(p: Float64Array, topP: number): boolean[] {
  if (topP >= 1) return Array.from(p, () => true);
  const total = p.reduce((a, b) => a + b, 0);
  const sorted = [...p].sort((a, b) => b - a);
  let run = 0,
    tau = sorted[0];
  for (const v of sorted) {
    run += v;
    tau = v;
    if (run >= topP * total) break;
  }
  return Array.from(p, (v) => v >= tau);
}

export function refSample(
  logits: ArrayLike<number>,
  seed: number,
  step: number,
  temperature: number,
  topP: number,
): number {
  if (temperature <= 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  const p = weights(logits, temperature);
  const keep = nucleus(p, topP);
  let mass = 0;
  p.forEach((v, i) => (mass += keep[i] ? v : 0));
  const goal = uniform01(seed, step) * mass;
  let run = 0,
    last = -1;
  for (let i = 0; i < p.length; i++) {
    if (!keep[i]) continue;
    run += p[i];
    last = i;
    if (goal < run) return i;
  }
  return last;
}
