// The demo task suite: instruction families with verifiable answers where a scratchpad helps
// (multi-digit arithmetic, letter counting, sorting, comparing, unit conversion, two-step word
// problems). Generated from a seed; train / TPO-pool / held-out splits never share an instruction.
// Each task carries its answer, a worked thought (for teaching the thought format by SFT) and
// the programmatic judge that scores a response.

import { UsageError } from '../errors';
import { rng } from '../rng';
import type { Rule } from '../tpo/judges';
import { CHAIN_LENGTHS, chainAnswer, chainInstruction, chainThought, drawChain, type Chain } from './chains';

export type Family = 'add' | 'sub' | 'count' | 'sort' | 'compare' | 'convert' | 'word' | 'chain';
/** The first suite's families (stages 1–7 of the demo model), in the order makeSplits interleaves them. */
export const FAMILIES: Family[] = ['add', 'sub', 'count', 'sort', 'compare', 'convert', 'word'];

export interface Task {
  id: string;
  family: Family;
  instruction: string;
  answer: string;
  /** A correct step-by-step scratchpad. */
  thought: string;
  /** The running-state chain of a 'chain' task. */
  chain?: Chain;
}

const WORDS = [
  'banana',
  'letter',
  'coffee',
  'mississippi',
  'bookkeeper',
  'balloon',
  'committee',
  'pepper',
  'success',
  'cocoa',
  'giraffe',
  'parallel',
  'address',
  'assessment',
  'tomorrow',
  'yellow',
  'strawberry',
  'apple',
  'cherry',
  'rabbit',
  'summer',
  'kitten',
  'puzzle',
  'bubble',
  'butter',
  'dinner',
  'hammer',
  'mirror',
  'pillow',
  'rocket',
  'street',
  'teacher',
  'window',
  'garden',
  'elephant',
  'potato',
  'tomato',
  'avocado',
  'baggage',
  'cabbage',
  'engineer',
  'referee',
  'sleeve',
  'lollipop',
  'possess',
  'tennessee',
  'zucchini',
  'pineapple',
  'broccoli',
  'umbrella',
];
const UNITS: [string, string, number][] = [
  ['m', 'cm', 100],
  ['kg', 'g', 1000],
  ['h', 'min', 60],
  ['km', 'm', 1000],
  ['min', 's', 60],
  ['cm', 'mm', 10],
  ['l', 'ml', 1000],
];
const NAMES = ['Ana', 'Ben', 'Chen', 'Dara', 'Eli', 'Femi'];
const THINGS = ['apples', 'books', 'coins', 'stamps', 'shells'];

/** Column addition: the operands restated, then each column from the units up, carries written. */
function addThought(a: number, b: number): string {
  const da = String(a).split('').reverse().map(Number),
    db = String(b).split('').reverse().map(Number);
  const steps: string[] = [];
  let carry = 0;
  for (let i = 0; i < Math.max(da.length, db.length); i++) {
    const s = (da[i] ?? 0) + (db[i] ?? 0) + carry;
    steps.push(`${da[i] ?? 0}+${db[i] ?? 0}${carry ? '+1' : ''}=${s}`);
    carry = s >= 10 ? 1 : 0;
  }
  return `${a}+${b}: ${steps.join(', ')}. So ${a + b}.`;
}

/** Two-digit column subtraction: units first (borrowing ten when needed), then tens. */
function subThought(a: number, b: number): string {
  const [a1, a0, b1, b0] = [Math.floor(a / 10), a % 10, Math.floor(b / 10), b % 10];
  const units = a0 >= b0 ? `${a0}-${b0}=${a0 - b0}` : `${a0 + 10}-${b0}=${a0 + 10 - b0}`;
  const tens = a0 >= b0 ? `${a1}-${b1}=${a1 - b1}` : `${a1}-1-${b1}=${a1 - 1 - b1}`;
  return `${a}-${b}: ${units}, ${tens}. So ${a - b}.`;
}

type Int = (lo: number, hi: number) => number;

/** How often a letter appears in a word: each occurrence marked in capitals. */
function countTask(int: Int, id: string): Task {
  const family = 'count';
  const w = WORDS[int(0, WORDS.length - 1)];
  const letters = [...new Set(w)];
  const c = letters[int(0, letters.length - 1)];
  const n = [...w].filter((x) => x === c).length;
  const marks = [...w].map((x) => (x === c ? x.toUpperCase() : x)).join('');
  return {
    id,
    family,
    instruction: `How many times does the letter "${c}" appear in "${w}"?`,
    answer: String(n),
    thought: `Mark each ${c}: ${marks}. So ${n}.`,
  };
}

/** Three distinct numbers sorted by repeated selection of the smallest. */
function sortTask(int: Int, id: string): Task {
  const family = 'sort';
  const xs: number[] = [];
  while (xs.length < 3) {
    const v = int(1, 99);
    if (!xs.includes(v)) xs.push(v);
  }
  const sorted = [...xs].sort((x, y) => x - y);
  const rest = xs.filter((v) => v !== sorted[0]);
  return {
    id,
    family,
    instruction: `Sort these numbers from smallest to largest: ${xs.join(', ')}`,
    answer: sorted.join(', '),
    thought:
      `Smallest of ${xs.join(', ')} is ${sorted[0]}. Of ${rest.join(', ')} it is ${sorted[1]}. ` +
      `Last ${sorted[2]}. ` +
      `So ${sorted.join(', ')}.`,
  };
}

export function makeTask(family: Family, r: () => number, id: string): Task {
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  switch (family) {
    case 'chain': {
      const chain = drawChain(r, int(CHAIN_LENGTHS.min, CHAIN_LENGTHS.max));
      const answer = String(chainAnswer(chain));
      return { id, family, instruction: chainInstruction(chain), answer, thought: chainThought(chain), chain };
    }
    case 'add': {
      const a = int(10, 99),
        b = int(10, 99);
      return { id, family, instruction: `What is ${a} + ${b}?`, answer: String(a + b), thought: addThought(a, b) };
    }
    case 'sub': {
      const a = int(20, 99),
        b = int(10, a);
      return { id, family, instruction: `What is ${a} - ${b}?`, answer: String(a - b), thought: subThought(a, b) };
    }
    case 'count':
      return countTask(int, id);
    case 'sort':
      return sortTask(int, id);
    case 'compare': {
      const a = int(10, 99);
      let b = int(10, 98);
      if (b >= a) b++;
      const [a1, b1] = [Math.floor(a / 10), Math.floor(b / 10)];
      const digits =
        a1 !== b1
          ? `tens ${a1} ${a1 > b1 ? '>' : '<'} ${b1}`
          : `tens ${a1} = ${b1}, units ${a % 10} ${a > b ? '>' : '<'} ${b % 10}`;
      return {
        id,
        family,
        instruction: `Which is larger, ${a} or ${b}?`,
        answer: String(Math.max(a, b)),
        thought: `${a} vs ${b}: ${digits}. So ${Math.max(a, b)}.`,
      };
    }
    case 'convert': {
      const [big, small, f] = UNITS[int(0, UNITS.length - 1)];
      const v = int(2, 40);
      return {
        id,
        family,
        instruction: `How many ${small} are in ${v} ${big}?`,
        answer: String(v * f),
        thought: `1 ${big} = ${f} ${small}. ${v}×${f}=${v * f}. So ${v * f}.`,
      };
    }
    case 'word': {
      const name = NAMES[int(0, NAMES.length - 1)],
        thing = THINGS[int(0, THINGS.length - 1)];
      const a = int(5, 20),
        b = int(2, 9),
        c = int(1, Math.min(9, a + b - 1));
      return {
        id,
        family,
        instruction:
          `${name} has ${a} ${thing}, gets ${b} more, then gives away ${c}. How many ${thing} does ${name} have ` +
          `now?`,
        answer: String(a + b - c),
        thought: `${a}+${b}=${a + b}, ${a + b}-${c}=${a + b - c}. So ${a + b - c}.`,
      };
    }
  }
}

/** The demo model's suite: its seed and split sizes (held-out and pool are drawn first, so they do
 *  not depend on how many training tasks train:demo uses). */
export const DEMO_SEED = 1;
export const DEMO_SPLITS = { train: 9500, pool: 400, heldOut: 140 };

export interface Splits {
  train: Task[];
  pool: Task[];
  heldOut: Task[];
}

/** Seeded splits, families interleaved; an instruction appears in one split at most. */
/**
 * Draws the held-out, pool and training splits, no instruction twice. `extraHeldOut` more held-out
 * tasks are drawn after the training split (so the first three splits are the same as without
 * them) and appended to heldOut: held-out tasks that no split of these sizes ever trained on.
 */
export function makeSplits(
  seed: number,
  sizes: { train: number; pool: number; heldOut: number },
  extraHeldOut = 0,
  families = FAMILIES,
  idPrefix = '',
): Splits {
  const r = rng(seed);
  const seen = new Set<string>();
  const take = (n: number, tag: string): Task[] => {
    const out: Task[] = [];
    for (let i = 0, tries = 0; out.length < n; i++) {
      if (++tries > n * 1000) throw new Error(`could not draw ${n} distinct ${tag} tasks`);
      const t = makeTask(families[i % families.length], r, `${idPrefix}${tag}-${out.length}`);
      if (seen.has(t.instruction)) continue;
      seen.add(t.instruction);
      out.push(t);
    }
    return out;
  };
  // Evaluation splits first, so a family with few distinct instructions (letter counting) still
  // appears in them when the training split is large.
  const heldOut = take(sizes.heldOut, 'heldout'),
    pool = take(sizes.pool, 'pool');
  const train = take(sizes.train, 'train');
  return { train, pool, heldOut: [...heldOut, ...take(extraHeldOut, 'heldout-x')] };
}

/**
 * The chain suite (the demo model from stage 8 on): running-state chains, where thinking should
 * win, beside the first suite's families where it should not matter (letter counting, sorting,
 * comparing, unit conversion; its two-digit arithmetic and word problems went: neither prompt got
 * their answers above chance). The first suite's tasks are its own splits exactly as before,
 * filtered to those families, so its held-out and pool tasks are still ones that no stage ever
 * trained on; the chains are drawn apart (their own seed, ids 'c…'), never sharing an instruction
 * between splits either. Each split comes out in a seeded order that mixes the two.
 */
export const CHAIN_SUITE = {
  chainSeed: 2,
  kept: ['count', 'sort', 'compare', 'convert'] as Family[],
  chains: { train: 12000, pool: 600, heldOut: 300 },
};

export function makeChainSuite(
  sizes: { train: number; pool: number; heldOut: number } = CHAIN_SUITE.chains,
  extraHeldOut = 0,
): Splits {
  // extra held-out tasks: 60% chains, the rest from the first suite (4 of its 7 families are kept)
  const chainExtra = Math.round(extraHeldOut * 0.6);
  const firstDraws = Math.ceil(((extraHeldOut - chainExtra) * FAMILIES.length) / CHAIN_SUITE.kept.length);
  // No training split asked (the page's instructions): the first suite's is not drawn either, and
  // its pool and held-out tasks come out the same (they are drawn before it).
  const noTrain = sizes.train === 0 && extraHeldOut === 0;
  const first = makeSplits(DEMO_SEED, noTrain ? { ...DEMO_SPLITS, train: 0 } : DEMO_SPLITS, firstDraws);
  const keep = (ts: Task[]) => ts.filter((t) => CHAIN_SUITE.kept.includes(t.family));
  const chains = makeSplits(CHAIN_SUITE.chainSeed, sizes, chainExtra, ['chain'], 'c');
  const mixed = (a: Task[], b: Task[], salt: number) =>
    seededShuffle([...a, ...b], CHAIN_SUITE.chainSeed * 1000 + salt);
  return {
    train: mixed(keep(first.train), chains.train, 1),
    pool: mixed(keep(first.pool), chains.pool, 2),
    heldOut: mixed(keep(first.heldOut), chains.heldOut, 3),
  };
}

export type Suite = 'first' | 'chains';

/** A --suite value (train:demo, experiment), checked; `fallback` when absent. */
export function suiteFlag(value: string | undefined, fallback: Suite): Suite {
  const suite = value ?? fallback;
  if (suite !== 'first' && suite !== 'chains')
    throw new UsageError(`--suite is first (the first task suite) or chains (the chain suite), got ${value}`);
  return suite;
}

/** The most held-out draws an experiment makes beyond the suite's own; fresh tasks avoid all of them. */
const EXPERIMENT_EXTRA_HELD_OUT = 2000;

/**
 * The suite's splits with at least `evalN` held-out tasks (the extra ones drawn after its training
 * split). The chain suite's extra draws of the first suite keep 4 of its 7 families, and letter
 * counting runs out of distinct instructions, so a draw can come out short: draw more until enough.
 */
export function suiteSplits(suite: Suite, evalN: number): Splits {
  if (suite === 'first') return makeSplits(DEMO_SEED, DEMO_SPLITS, Math.max(0, evalN - DEMO_SPLITS.heldOut));
  let extra = Math.max(0, evalN - makeChainSuite().heldOut.length);
  for (;;) {
    const splits = makeChainSuite(CHAIN_SUITE.chains, extra);
    const short = evalN - splits.heldOut.length;
    if (short <= 0) return splits;
    extra += short;
    if (extra > EXPERIMENT_EXTRA_HELD_OUT)
      throw new UsageError(
        `--eval-tasks ${evalN} is more held-out tasks than the chain suite draws: give at most 2000`,
      );
  }
}

/**
 * `n` fresh tasks of the chain suite drawn with `seed`: none is in any split of either suite (the
 * first suite's training, pool and held-out tasks, the chain suite's with every extra held-out
 * task an experiment draws), and none twice. 60% are chains; the rest cycle through the kept
 * families, where a family whose instructions are used up (letter counting has a few hundred) is
 * skipped, so those can come out fewer.
 */
export function freshTasks(seed: number, n: number): Task[] {
  const used = new Set<string>();
  const first = makeSplits(DEMO_SEED, DEMO_SPLITS, EXPERIMENT_EXTRA_HELD_OUT);
  const suite = makeChainSuite(CHAIN_SUITE.chains, EXPERIMENT_EXTRA_HELD_OUT);
  for (const s of [first, suite]) for (const t of [...s.train, ...s.pool, ...s.heldOut]) used.add(t.instruction);
  const r = rng(0xf7e5 + seed);
  const out: Task[] = [];
  let other = 0;
  while (out.length < n) {
    const chain = r() < 0.6;
    let t: Task | null = null;
    for (let k = 0; k < CHAIN_SUITE.kept.length && !t; k++) {
      const family = chain ? 'chain' : CHAIN_SUITE.kept[other++ % CHAIN_SUITE.kept.length];
      for (let tries = 0; tries < 200 && !t; tries++) {
        const x = makeTask(family, r, `fresh-${seed}-${out.length}`);
        if (!used.has(x.instruction)) t = x;
      }
    }
    if (!t) throw new Error(`could not draw ${n} fresh tasks with seed ${seed}`);
    used.add(t.instruction);
    out.push(t);
  }
  return out;
}

function seededShuffle<T>(xs: T[], seed: number): T[] {
  const r = rng(seed);
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** The programmatic judge for the suite: the right answer, plus a little for brevity. */
export function demoJudgeRules(maxChars = 40): Rule[] {
  return [
    { type: 'exact', field: 'answer', weight: 1 },
    { type: 'length', max: maxChars, weight: 0.2 },
  ];
}

/** Rows for a prompts.jsonl (instruction + the answer the judge checks). */
export function promptRows(tasks: Task[]): Record<string, unknown>[] {
  return tasks.map((t) => ({ id: t.id, instruction: t.instruction, answer: t.answer, family: t.family }));
}
