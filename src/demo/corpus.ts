// The demo model's SFT corpus: each training task written as a thought-prompted conversation
// (TPO's generic prompt → "Here is my thought process: … Here is my response: …") or as a direct
// one (the instruction → the answer). The thoughts are deliberately uneven, so that the untrained
// model thinks badly by habit and well only sometimes — what TPO can sort out by judging answers:
//   rambling  the most common habit: a long hedge that does no work, then a guess;
//   worked    a concise correct scratchpad, opened in one of two ways;
//   slip      the same scratchpad with an error carried into the answer;
//   guess     a short "this is easy" and a guess.
// A guess is the right answer half the time by default (GUESS_RIGHT; `--guess-right` sets it for a
// stage), a near miss otherwise. Length does not predict correctness: the longest
// thoughts (rambling) and the shortest (guess) do no work; the medium ones (worked) do.

import { rng } from '../rng';
import type { ChatMessage } from '../model/tokenizer';
import { GENERIC, renderPrompt } from '../tpo/prompts';
import { chainSlip } from './chains';
import type { Task } from './tasks';

export type ThoughtStyle = 'worked' | 'rambling' | 'slip' | 'guess';

/** Share of guesses (rambling or short) that are the right answer; the rest are near misses. */
export const GUESS_RIGHT = 0.5;

/** Share of each thought style in the corpus (sums to 1). Rambling, with one fixed opening, is the
 *  single most likely way to start a thought; worked scratchpads are spread over WORKED_OPENERS. */
export const STYLE_MIX: [ThoughtStyle, number][] = [
  ['rambling', 0.45],
  ['worked', 0.35],
  ['slip', 0.05],
  ['guess', 0.15],
];

/** STYLE_MIX with rambling at `share` and the other styles scaled to fill the rest in their ratios. */
export function styleMix(share: number): [ThoughtStyle, number][] {
  if (!(share >= 0 && share < 1)) throw new RangeError(`rambling share must be in [0, 1), got ${share}`);
  const rest = 1 - STYLE_MIX[0][1];
  return STYLE_MIX.map(([s, p]) => [s, s === 'rambling' ? share : (p * (1 - share)) / rest]);
}

const RAMBLE =
  'Hmm, let me think about this carefully before I answer, because I want to be sure I get it right. ' +
  'I believe I know this one.';
export const WORKED_OPENERS = ['Step by step:', 'Working it out:'];
const GUESS = 'This looks easy.';

/** Which corpus style a generated thought follows, by how it opens ('scratchpad' = worked or slip). */
export function thoughtStyle(thought: string): 'rambling' | 'scratchpad' | 'guess' | 'other' {
  const t = thought.trim();
  if (t.startsWith(RAMBLE.slice(0, 20))) return 'rambling';
  if (WORKED_OPENERS.some((o) => t.startsWith(o))) return 'scratchpad';
  if (t.startsWith(GUESS)) return 'guess';
  return 'other';
}

/** A wrong answer near the right one (off by a little, two list items swapped, the smaller number). */
export function nearMiss(t: Task, r: () => number): string {
  // a chain's state is one digit mod 10: any other digit is as near as another
  if (t.family === 'chain') return String((Number(t.answer) + 1 + Math.floor(r() * 9)) % 10);
  if (t.family === 'sort') {
    const xs = t.answer.split(', ');
    const i = Math.floor(r() * (xs.length - 1));
    [xs[i], xs[i + 1]] = [xs[i + 1], xs[i]];
    return xs.join(', ');
  }
  // the smaller one
  if (t.family === 'compare') return (t.instruction.match(/\d+/g) ?? []).find((x) => x !== t.answer) ?? t.answer;
  const n = Number(t.answer);
  const deltas = t.family === 'count' ? [1, -1] : [1, -1, 10, -10, 2];
  let d = deltas[Math.floor(r() * deltas.length)];
  if (n + d < 0) d = -d;
  return String(n + d);
}

/** One thought of the given style and the answer it leads to. */
export function writeThought(
  t: Task,
  style: ThoughtStyle,
  r: () => number,
  guessRight = GUESS_RIGHT,
): { thought: string; answer: string } {
  const guessed = () => (r() < guessRight ? t.answer : nearMiss(t, r));
  switch (style) {
    case 'worked':
      return { thought: `${WORKED_OPENERS[Math.floor(r() * WORKED_OPENERS.length)]} ${t.thought}`, answer: t.answer };
    case 'rambling':
      return { thought: RAMBLE, answer: guessed() };
    case 'slip': {
      if (t.chain) {
        const slip = chainSlip(t.chain, r);
        return {
          thought: `${WORKED_OPENERS[Math.floor(r() * WORKED_OPENERS.length)]} ${slip.thought}`,
          answer: slip.answer,
        };
      }
      const wrong = nearMiss(t, r);
      const at = t.thought.lastIndexOf(t.answer);
      const thought =
        at >= 0 ? t.thought.slice(0, at) + wrong + t.thought.slice(at + t.answer.length) : `${t.thought} So ${wrong}.`;
      return { thought: `${WORKED_OPENERS[Math.floor(r() * WORKED_OPENERS.length)]} ${thought}`, answer: wrong };
    }
    case 'guess':
      return { thought: GUESS, answer: guessed() };
  }
}

export function thoughtCompletion(thought: string, answer: string): string {
  return `${GENERIC.thoughtMarker} ${thought}\n\n${GENERIC.separator} ${answer}`;
}

/** A completion cut at its markers (for learning BPE merges that never span them). */
export function completionPieces(completion: string): string[] {
  const m = `${GENERIC.thoughtMarker} `,
    sep = `\n\n${GENERIC.separator} `;
  if (!completion.startsWith(m) || !completion.includes(sep)) return [completion];
  const [thought, answer] = completion.slice(m.length).split(sep);
  return [m, thought, sep, answer];
}

export interface SftRow {
  prompt: ChatMessage[];
  completion: ChatMessage[];
  /** 'direct' or the thought style, for the training log. */
  kind: ThoughtStyle | 'direct';
}

/**
 * `thoughtShare` of the rows use the generic thought prompt (style drawn from `mix`), the rest the
 * bare instruction with the right answer. Seeded; rows come out shuffled.
 */
export function sftRows(
  tasks: Task[],
  seed: number,
  thoughtShare = 0.75,
  mix = STYLE_MIX,
  guessRight = GUESS_RIGHT,
): SftRow[] {
  const r = rng(seed);
  const rows: SftRow[] = tasks.map((t) => {
    if (r() >= thoughtShare)
      return {
        prompt: [{ role: 'user', content: t.instruction }],
        completion: [{ role: 'assistant', content: t.answer }],
        kind: 'direct',
      };
    let u = r(),
      style: ThoughtStyle = 'worked';
    for (const [s, p] of mix) {
      if (u < p) {
        style = s;
        break;
      }
      u -= p;
    }
    const { thought, answer } = writeThought(t, style, r, guessRight);
    return {
      prompt: [{ role: 'user', content: renderPrompt(GENERIC, t.instruction) }],
      completion: [{ role: 'assistant', content: thoughtCompletion(thought, answer) }],
      kind: style,
    };
  });
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  return rows;
}
