// The chain suite: running-state chains solved independently from their instruction text, worked
// thoughts that check step by step, slips that carry their error, the thought parser on them, and
// the suite's splits: disjoint, reproducible, the first suite's held-out and pool tasks never in
// any training split of either suite.

import { describe, expect, it } from 'vitest';
import {
  CHAIN_LENGTHS,
  CHAIN_STEPS,
  applyStep,
  chainSlip,
  chainThought,
  drawChain,
  parseChain,
  stepErrors,
} from '../src/demo/chains';
import { cardWorld, stageTable } from '../src/demo/card';
import { thoughtCompletion, writeThought } from '../src/demo/corpus';
import type { StageRecord } from '../src/demo/stages';
import {
  CHAIN_SUITE,
  DEMO_SEED,
  DEMO_SPLITS,
  freshTasks,
  makeChainSuite,
  makeSplits,
  suiteSplits,
  type Task,
} from '../src/demo/tasks';
import { GENERIC, parseOutput } from '../src/tpo/prompts';
import { rng } from '../src/rng';

/** The answer from the instruction text alone, in plain integer arithmetic then mod 10 once at each step. */
function solveChain(instruction: string): number {
  const m = /^Start at (\d) and work mod 10: (.*)\. What is the result\?$/.exec(instruction);
  if (!m) throw new Error(`not a chain: ${instruction}`);
  let x = BigInt(m[1]);
  for (const t of m[2].split(', ')) {
    const d = BigInt(t.slice(1));
    x = t[0] === '+' ? x + d : t[0] === '-' ? x - d : x * d;
    x = ((x % 10n) + 10n) % 10n;
  }
  return Number(x);
}

/** Checks "a op d = b" steps of a scratchpad and that each step starts from the one before. */
function checkSteps(thought: string, start: number): { states: number[]; consistent: boolean; true_: boolean } {
  const steps = [...thought.matchAll(/(\d)([-+*])(\d)=(\d)/g)];
  let prev = start,
    consistent = true,
    true_ = true;
  const states: number[] = [];
  for (const [, a, op, d, b] of steps) {
    if (Number(a) !== prev) consistent = false;
    const v = applyStep(Number(a), { op: op as '+' | '-' | '*', operand: Number(d) });
    if (v !== Number(b)) true_ = false;
    states.push(Number(b));
    prev = Number(b);
  }
  return { states, consistent, true_ };
}

describe('chain tasks', () => {
  const suite = makeChainSuite({ train: 400, pool: 60, heldOut: 60 });
  const chains = [...suite.train, ...suite.pool, ...suite.heldOut].filter((t) => t.family === 'chain');

  it('every answer equals an independent solver of the instruction, every worked step is true', () => {
    expect(chains.length).toBe(520);
    for (const t of chains) {
      expect(t.answer, t.instruction).toBe(String(solveChain(t.instruction)));
      expect(parseChain(t.instruction)).toEqual(t.chain);
      const c = checkSteps(t.thought, t.chain!.start);
      expect(c.states, t.thought).toHaveLength(t.chain!.steps.length);
      expect(c.consistent && c.true_, t.thought).toBe(true);
      expect(t.thought.endsWith(`So ${t.answer}.`)).toBe(true);
    }
  });

  it('lengths cover the range evenly, no operation twice in a chain, wrapping below 0 mod 10', () => {
    const byLength = new Map<number, number>();
    for (const t of chains) byLength.set(t.chain!.steps.length, (byLength.get(t.chain!.steps.length) ?? 0) + 1);
    expect([...byLength.keys()].sort()).toEqual(
      Array.from({ length: CHAIN_LENGTHS.max - CHAIN_LENGTHS.min + 1 }, (_, i) => CHAIN_LENGTHS.min + i),
    );
    for (const n of byLength.values()) expect(n).toBeGreaterThan(520 / byLength.size / 2);
    for (const t of chains) {
      const keys = t.chain!.steps.map((s) => `${s.op}${s.operand}`);
      expect(new Set(keys).size).toBe(keys.length);
    }
    expect(applyStep(0, { op: '-', operand: 4 })).toBe(6);
    expect(applyStep(8, { op: '*', operand: 9 })).toBe(2);
    expect(CHAIN_STEPS).toHaveLength(26);
    expect(drawChain(rng(3), 26).steps).toHaveLength(26); // every operation once, none repeated
  });

  it('a slip carries its error: steps stay true after the wrong one, the answer is wrong', () => {
    const r = rng(5);
    for (const t of chains.slice(0, 200)) {
      const s = chainSlip(t.chain!, r);
      expect(s.answer).not.toBe(t.answer);
      const c = checkSteps(s.thought, t.chain!.start);
      expect(c.consistent, s.thought).toBe(true); // each step starts from the state written before it
      expect(c.true_, s.thought).toBe(false); // exactly one step is false arithmetic
      expect(s.thought.endsWith(`So ${s.answer}.`)).toBe(true);
      const w = writeThought(t, 'slip', r);
      expect(w.answer).not.toBe(t.answer);
      expect(checkSteps(w.thought, t.chain!.start).true_).toBe(false);
    }
  });

  it('a worked thought read step by step: the first copy, carry, table or format error, and right table entries', () => {
    const c = {
      start: 7,
      steps: [
        { op: '+' as const, operand: 3 },
        { op: '*' as const, operand: 2 },
        { op: '-' as const, operand: 4 },
      ],
    };
    expect(chainThought(c)).toBe('7+3=0, 0*2=0, 0-4=6. So 6.');
    expect(stepErrors(c, 'Working it out: 7+3=0, 0*2=0, 0-4=6. So 6.')).toEqual({ first: null, written: 3, table: 3 });
    expect(stepErrors(c, '7+3=1, 1*2=2, 2-4=8. So 8.')).toEqual({ first: 'table', written: 3, table: 2 });
    expect(stepErrors(c, '7+3=0, 0*3=0, 0-4=6. So 6.')).toMatchObject({ first: 'copy', table: 3 });
    expect(stepErrors(c, '7+3=0, 5*2=0, 0-4=6. So 6.')).toMatchObject({ first: 'carry', table: 3 });
    expect(stepErrors(c, '7+3=0, 0*2=0. So 0.')).toEqual({ first: 'format', written: 2, table: 2 });
    expect(stepErrors(c, 'Hmm, let me think. I believe I know this one.')).toEqual({
      first: 'format',
      written: 0,
      table: 0,
    });
    // every slip is caught where it is made, as a table error
    const r = rng(5);
    for (let i = 0; i < 200; i++) {
      const chain = drawChain(r, 2 + (i % 5));
      const slip = chainSlip(chain, r);
      expect(stepErrors(chain, slip.thought).first).toBe('table');
    }
  });

  it('the thought parser splits a worked chain completion into its thought and its answer', () => {
    for (const t of chains.slice(0, 50)) {
      const { thought, answer } = writeThought(t, 'worked', rng(1));
      const p = parseOutput(GENERIC, thoughtCompletion(thought, answer));
      expect(p).toEqual({ ok: true, thought, response: t.answer });
      expect(writeThought(t, 'guess', rng(2), 0).answer).not.toBe(t.answer); // a near miss is another digit
    }
  });

  it('splits: disjoint, reproducible, mixed; first-suite held-out and pool never in any training split', () => {
    const key = (ts: Task[]) => new Set(ts.map((t) => t.instruction));
    const [a, b, c] = [key(suite.train), key(suite.pool), key(suite.heldOut)];
    for (const x of b) expect(a.has(x) || c.has(x)).toBe(false);
    for (const x of c) expect(a.has(x)).toBe(false);
    expect(makeChainSuite({ train: 400, pool: 60, heldOut: 60 })).toEqual(suite);
    expect(new Set(suite.heldOut.map((t) => t.family))).toEqual(new Set(['chain', ...CHAIN_SUITE.kept]));
    // every training task any stage of the demo model has seen: the first suite's training split and this one's
    const firstTrain = key(makeSplits(DEMO_SEED, DEMO_SPLITS).train);
    const full = makeChainSuite(CHAIN_SUITE.chains, 200);
    const trained = new Set([...firstTrain, ...key(full.train)]);
    for (const t of [...full.heldOut, ...full.pool]) expect(trained.has(t.instruction), t.instruction).toBe(false);
    expect(full.heldOut.filter((t) => t.family === 'chain')).toHaveLength(CHAIN_SUITE.chains.heldOut + 120);
    expect(new Set(full.heldOut.map((t) => t.id)).size).toBe(full.heldOut.length);
  });

  it('the experiment gets the held-out tasks it asks for: at least 500, none from a training or pool split', () => {
    const base = makeChainSuite();
    for (const n of [500, 1000]) {
      const s = suiteSplits('chains', n);
      expect(s.heldOut.length).toBeGreaterThanOrEqual(n);
      expect(s.pool).toEqual(base.pool); // more held-out draws leave the other splits as they were
      expect(s.train).toEqual(base.train);
      const seen = new Set([...s.train, ...s.pool].map((t) => t.instruction));
      for (const t of s.heldOut) expect(seen.has(t.instruction)).toBe(false);
    }
    expect(suiteSplits('first', 500).heldOut).toHaveLength(500);
    const noTrain = makeChainSuite({ ...CHAIN_SUITE.chains, train: 0 }); // what the page draws its instructions from
    expect(noTrain.pool).toEqual(base.pool);
    expect(noTrain.heldOut).toEqual(base.heldOut);
    expect(noTrain.train).toEqual([]);
    expect(() => suiteSplits('chains', 2500)).toThrow(/at most 2000/); // fresh tasks avoid every draw allowed
  });

  it('fresh tasks (--score-shipped): reproducible by seed, in no split of either suite, mostly chains', () => {
    const a = freshTasks(4, 300);
    expect(freshTasks(4, 300)).toEqual(a);
    expect(freshTasks(5, 300).map((t) => t.instruction)).not.toEqual(a.map((t) => t.instruction));
    const key = (ts: Task[]) => ts.map((t) => t.instruction);
    const first = makeSplits(DEMO_SEED, DEMO_SPLITS, 2000);
    const experiment = suiteSplits('chains', 2000); // the most held-out tasks an experiment may draw
    const everywhere = new Set(
      [first, makeChainSuite(CHAIN_SUITE.chains, 2000), experiment].flatMap((s) =>
        key([...s.train, ...s.pool, ...s.heldOut]),
      ),
    );
    for (const t of a) expect(everywhere.has(t.instruction), t.instruction).toBe(false);
    expect(new Set(key(a)).size).toBe(300);
    const chains = a.filter((t) => t.family === 'chain').length;
    expect(chains / a.length).toBeGreaterThan(0.5);
    expect(new Set(a.map((t) => t.family)).size).toBeGreaterThanOrEqual(3); // other families where any are left
    for (const t of a.filter((x) => x.chain)) expect(t.answer).toBe(String(solveChain(t.instruction)));
  });

  it('the model card names the suite each stage trained on (records before --suite: the first)', () => {
    expect(cardWorld('chains')).toMatch(/chain suite: running-state chains mod 10/);
    expect(cardWorld()).toMatch(/two-digit addition/);
    const record = (stage: number, suite?: 'chains'): StageRecord => ({
      ...{ stage, steps: 10, epochs: 1, lr: 4e-3, batch: 4, row_length: 128, tasks: 100, seed: 1 },
      ...{ seconds: 5, final_loss: 0.5, device: 'test', ...(suite ? { suite } : {}) },
      eval: { thought_accuracy: 0.1, direct_accuracy: 0.2, digit_logprob: -1, copied_digit_logprob: -1 },
    });
    const rows = stageTable([record(1), record(2, 'chains')]).split('\n');
    expect(rows.find((r) => r.startsWith('| 1 |'))).toMatch(/^\| 1 \| first \| 10 \| 5 \|/);
    expect(rows.find((r) => r.startsWith('| 2 |'))).toMatch(/^\| 2 \| chains \| 20 \| 5 \|/);
  });
});
