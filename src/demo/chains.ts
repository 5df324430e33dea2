// Running-state chains: the demo's family where writing the steps is what makes the answer
// reachable. "Start at 7 and work mod 10: +3, *2, -4, +5, *3. What is the result?" Each step is
// one small local operation (a table of 10 states × 26 operations), written next to the tokens it
// needs in the worked thought ("7+3=0, 0*2=0, 0-4=6, 6+5=1, 1*3=3. So 3."), while answering at
// once needs all k of them composed in one forward pass (arXiv 2305.15408 measures the same gap
// for arithmetic expressions mod 11). No operation appears twice in one chain, so the thought's
// copy of the next operation from the instruction is never ambiguous.

export type ChainOp = '+' | '-' | '*';

export interface ChainStep {
  op: ChainOp;
  operand: number;
}

export interface Chain {
  start: number;
  steps: ChainStep[];
}

/** The operations a chain draws from (×0 and ×1 left out: they end or skip the work). */
export const CHAIN_STEPS: ChainStep[] = [
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((operand) => ({ op: '+' as const, operand })),
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((operand) => ({ op: '-' as const, operand })),
  ...[2, 3, 4, 5, 6, 7, 8, 9].map((operand) => ({ op: '*' as const, operand })),
];

/** Chain lengths of the suite: training mixes all of them, short ones as common as long ones. */
export const CHAIN_LENGTHS = { min: 2, max: 6 };

/** One operation mod 10 (a negative difference wraps: 0 - 4 = 6). */
export function applyStep(state: number, s: ChainStep): number {
  const v = s.op === '+' ? state + s.operand : s.op === '-' ? state - s.operand : state * s.operand;
  return ((v % 10) + 10) % 10;
}

/** The state after each step. */
export function chainStates(c: Chain): number[] {
  const out: number[] = [];
  let s = c.start;
  for (const step of c.steps) out.push((s = applyStep(s, step)));
  return out;
}

export const chainAnswer = (c: Chain) => chainStates(c).at(-1) ?? c.start;

const stepText = (s: ChainStep) => `${s.op}${s.operand}`;

export function chainInstruction(c: Chain): string {
  return `Start at ${c.start} and work mod 10: ${c.steps.map(stepText).join(', ')}. What is the result?`;
}

/** The worked scratchpad: each step written as "state op operand = new state". `states` may carry
 *  a slip (a wrong state, the later ones computed from it). */
export function chainThought(c: Chain, states = chainStates(c)): string {
  const parts = c.steps.map((s, i) => `${i === 0 ? c.start : states[i - 1]}${stepText(s)}=${states[i]}`);
  return `${parts.join(', ')}. So ${states.at(-1)}.`;
}

/** A seeded chain of `length` distinct operations. */
export function drawChain(r: () => number, length: number): Chain {
  const pool = [...CHAIN_STEPS];
  const steps: ChainStep[] = [];
  while (steps.length < length) steps.push(pool.splice(Math.floor(r() * pool.length), 1)[0]);
  return { start: Math.floor(r() * 10), steps };
}

/** The chain an instruction states, or null when it is not a chain task. */
export function parseChain(instruction: string): Chain | null {
  const m = instruction.match(/^Start at (\d) and work mod 10: ([^.]*)\. What is the result\?$/);
  if (!m) return null;
  const steps = m[2].split(', ').map((t) => ({ op: t[0] as ChainOp, operand: Number(t.slice(1)) }));
  if (steps.some((s) => !'+-*'.includes(s.op) || !Number.isInteger(s.operand))) return null;
  return { start: Number(m[1]), steps };
}

/**
 * A worked thought with one slip: the state after a random step is off by one to nine, and every
 * later state is computed correctly from the wrong one (the error is carried, as a real slip is).
 * The answer it reaches always differs from the right one.
 */
export function chainSlip(c: Chain, r: () => number): { thought: string; answer: string } {
  const right = chainAnswer(c);
  for (;;) {
    const at = Math.floor(r() * c.steps.length);
    const states = chainStates(c);
    states[at] = (states[at] + 1 + Math.floor(r() * 9)) % 10;
    for (let i = at + 1; i < states.length; i++) states[i] = applyStep(states[i - 1], c.steps[i]);
    if (states.at(-1) !== right) return { thought: chainThought(c, states), answer: String(states.at(-1)) };
  }
}

/** Where a worked chain thought first goes wrong: a step copied from the instruction wrongly
 *  (`copy`: not the chain's next operation), a state not carried from the step before (`carry`),
 *  a wrong entry of the step table (`table`), or steps missing or extra (`format`). */
export type StepError = 'copy' | 'carry' | 'table' | 'format';

const STEP = /(\d)([+\-*])(\d)=(\d)/g;

/**
 * A worked thought ("7+3=0, 0*2=0, …") read step by step against its chain: the first error, and
 * how many of the steps it wrote are right entries of the step table for their own operands.
 */
export function stepErrors(c: Chain, thought: string): { first: StepError | null; written: number; table: number } {
  const steps = [...thought.matchAll(STEP)].map((m) => ({
    a: Number(m[1]),
    step: { op: m[2] as ChainOp, operand: Number(m[3]) },
    b: Number(m[4]),
  }));
  let first: StepError | null = null;
  steps.forEach((s, i) => {
    if (first || i >= c.steps.length) return;
    const want = c.steps[i];
    if (s.a !== (i === 0 ? c.start : steps[i - 1].b)) first = 'carry';
    else if (s.step.op !== want.op || s.step.operand !== want.operand) first = 'copy';
    else if (s.b !== applyStep(s.a, s.step)) first = 'table';
  });
  if (!first && steps.length !== c.steps.length) first = 'format';
  const table = steps.filter((s) => s.b === applyStep(s.a, s.step)).length;
  return { first, written: steps.length, table };
}
