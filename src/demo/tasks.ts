// The demo task suite: instruction families with verifiable answers where a scratchpad helps
// (multi-digit arithmetic, letter counting, sorting, comparing, unit conversion, two-step word
// problems). Generated from a seed; train / TPO-pool / held-out splits never share an instruction.
// Each task carries its answer, a worked thought (for teaching the thought format by SFT) and
// the programmatic judge that scores a response.

import { rng } from '../rng';
import type { Rule } from '../tpo/judges';

export type Family = 'add' | 'sub' | 'count' | 'sort' | 'compare' | 'convert' | 'word';
export const FAMILIES: Family[] = ['add', 'sub', 'count', 'sort', 'compare', 'convert', 'word'];

export interface Task {
  id: string;
  family: Family;
  instruction: string;
  answer: string;
  /** A correct step-by-step scratchpad. */
  thought: string;
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

export function makeTask(family: Family, r: () => number, id: string): Task {
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  switch (family) {
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
    case 'count': {
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
    case 'sort': {
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
          `Smallest of ${xs.join(', ')} is ${sorted[0]}. Of ${rest.join(', ')} it is ${sorted[1]}. Last ${sorted[2]}. ` +
          `So ${sorted.join(', ')}.`,
      };
    }
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
): Splits {
  const r = rng(seed);
  const seen = new Set<string>();
  const take = (n: number, tag: string): Task[] => {
    const out: Task[] = [];
    for (let i = 0, tries = 0; out.length < n; i++) {
      if (++tries > n * 1000) throw new Error(`could not draw ${n} distinct ${tag} tasks`);
      const t = makeTask(FAMILIES[i % FAMILIES.length], r, `${tag}-${out.length}`);
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
