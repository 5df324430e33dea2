// The numbers of the method: length-controlled scores, preference-pair selection, Bradley–Terry
// scores from pairwise verdicts, win rates with bootstrap intervals and the length-adjusted
// win rate.

import { rng } from '../rng';

/** The arithmetic mean; 0 for an empty list. */
export const mean = (x: number[]): number => (x.length ? x.reduce((a, b) => a + b, 0) / x.length : 0);

/** z-scores within one group; a constant group gives zeros. */
export function zscores(x: number[]): number[] {
  const n = x.length;
  if (!n) return [];
  const mu = mean(x);
  const sd = Math.sqrt(x.reduce((a, b) => a + (b - mu) ** 2, 0) / n);
  return x.map((v) => (sd > 1e-12 ? (v - mu) / sd : 0));
}

/** s = z(score) − ρ·z(length) over one instruction's parsed outputs. */
export function lengthControlled(scores: number[], lengths: number[], rho: number): number[] {
  const zs = zscores(scores),
    zl = zscores(lengths);
  return zs.map((z, i) => z - rho * zl[i]);
}

export interface Candidate {
  parsed: boolean;
  score?: number; // judge score (parsed outputs only)
  length: number; // response length in characters
}

export type PairChoice = { chosen: number; rejected: number } | { skipped: 'all-tied' | 'too-few' };

/**
 * chosen = argmax s, rejected = argmin s, where s is the length-controlled score of the parsed
 * outputs; parse failures rank below every parsed output (so one is the rejected side when
 * present). Skipped: no scored output at all ("too-few", also a lone scored output with no failure
 * beside it), or every scored output got the same judge score and none failed ("all-tied") — the
 * length term alone never makes a pair, whatever ρ. An output the judge could not score (score
 * undefined) takes no part.
 */
export function selectPair(c: Candidate[], rho: number): PairChoice {
  const scored = c.map((x, i) => ({ x, i })).filter((e) => e.x.parsed && e.x.score !== undefined);
  const failed = c.map((x, i) => ({ x, i })).filter((e) => !e.x.parsed);
  if (!scored.length) return { skipped: 'too-few' };
  const s = lengthControlled(
    scored.map((e) => e.x.score!),
    scored.map((e) => e.x.length),
    rho,
  );
  let hi = 0,
    lo = 0;
  s.forEach((v, k) => {
    if (v > s[hi]) hi = k;
    if (v < s[lo]) lo = k;
  });
  if (failed.length) return { chosen: scored[hi].i, rejected: failed[0].i };
  if (scored.length < 2) return { skipped: 'too-few' };
  const first = scored[0].x.score!;
  if (scored.every((e) => Math.abs(e.x.score! - first) < 1e-12)) return { skipped: 'all-tied' };
  // Scores differ but the length term cancels them exactly: no side is better.
  if (Math.abs(s[hi] - s[lo]) < 1e-12) return { skipped: 'all-tied' };
  return { chosen: scored[hi].i, rejected: scored[lo].i };
}

/**
 * Bradley–Terry maximum likelihood: wins[m][n] = times m beat n; maximise
 * Σ wins[m][n]·log σ(ε_m − ε_n). Returns ε centred to mean 0 (a tiny L2 term keeps unbeaten
 * players finite). Gradient ascent; deterministic.
 */
export function bradleyTerry(wins: number[][], iters = 2000, l2 = 1e-3): number[] {
  const n = wins.length;
  const e = new Array(n).fill(0);
  const lr = 0.5 / Math.max(1, Math.max(...wins.map((r) => r.reduce((a, b) => a + b, 0))));
  for (let it = 0; it < iters; it++) {
    const g = e.map((v) => -l2 * v);
    for (let m = 0; m < n; m++)
      for (let k = 0; k < n; k++) {
        if (m === k || !wins[m][k]) continue;
        const p = 1 / (1 + Math.exp(-(e[m] - e[k])));
        g[m] += wins[m][k] * (1 - p);
        g[k] -= wins[m][k] * (1 - p);
      }
    let step = 0;
    for (let m = 0; m < n; m++) {
      e[m] += lr * g[m];
      step = Math.max(step, Math.abs(g[m]));
    }
    if (step < 1e-9) break;
  }
  const mu = mean(e);
  return e.map((v) => v - mu);
}

/** Outcome of one comparison for the policy: 1 win, 0.5 tie (or no verdict), 0 loss. */
export type Outcome = 1 | 0.5 | 0;

export function winRate(outcomes: Outcome[]): number {
  return outcomes.length ? outcomes.reduce<number>((a, b) => a + b, 0) / outcomes.length : NaN;
}

/** Percentile bootstrap 95% interval of the mean outcome, seeded. */
export function bootstrapCI(outcomes: number[], samples = 2000, seed = 0): [number, number] {
  const n = outcomes.length;
  if (!n) return [NaN, NaN];
  const rand = rng(seed);
  const means: number[] = [];
  for (let s = 0; s < samples; s++) {
    let t = 0;
    for (let i = 0; i < n; i++) t += outcomes[Math.floor(rand() * n)];
    means.push(t / n);
  }
  means.sort((a, b) => a - b);
  return [means[Math.floor(0.025 * samples)], means[Math.ceil(0.975 * samples) - 1]];
}

/**
 * Length-adjusted win rate: fit P(win) = σ(θ + φ·tanh(Δlen / sd(Δlen))) by maximum likelihood
 * (ties count half a win), then report σ(θ): the win probability with the length difference set
 * to 0. Δlen = policy length − baseline length, in characters. This is AlpacaEval 2's
 * length-controlled GLM without its instruction-difficulty term (which AlpacaEval estimates
 * across many models; one policy against one baseline cannot), so it is called length-adjusted.
 */
export function lengthControlledWinRate(outcomes: number[], lenPolicy: number[], lenBaseline: number[]): number {
  const n = outcomes.length;
  if (!n) return NaN;
  const d = lenPolicy.map((l, i) => l - lenBaseline[i]);
  const mu = mean(d);
  const sd = Math.sqrt(d.reduce((a, b) => a + (b - mu) ** 2, 0) / n) || 1;
  const x = d.map((v) => Math.tanh(v / sd));
  let th = 0,
    ph = 0;
  for (let it = 0; it < 5000; it++) {
    let gt = -1e-4 * th,
      gp = -1e-4 * ph;
    for (let i = 0; i < n; i++) {
      const p = 1 / (1 + Math.exp(-(th + ph * x[i])));
      gt += outcomes[i] - p;
      gp += (outcomes[i] - p) * x[i];
    }
    th += (2 / n) * gt;
    ph += (2 / n) * gp;
    if (Math.abs(gt) + Math.abs(gp) < 1e-10) break;
  }
  return 1 / (1 + Math.exp(-th));
}
