// The demo model's SFT corpus: each training task written as a thought-prompted conversation
// (TPO's generic prompt → "Here is my thought process: … Here is my response: …") or as a direct
// one (the instruction → the answer). Thoughts are deliberately uneven — some concise and right,
// some padded, some with a slip that leads to a wrong answer, some a bare guess — so the model
// starts with imperfect, improvable thinking that TPO can sort out.

import { rng } from '../rng';
import type { ChatMessage } from '../model/tokenizer';
import { GENERIC, renderPrompt } from '../tpo/prompts';
import type { Task } from './tasks';

export type ThoughtStyle = 'worked' | 'padded' | 'slip' | 'guess';

/** Share of each thought style in the corpus (sums to 1). */
export const STYLE_MIX: [ThoughtStyle, number][] = [['worked', 0.35], ['padded', 0.3], ['slip', 0.2], ['guess', 0.15]];

const OPENERS = [
  'Let me think about this carefully before I answer.',
  'I should read the question again and make sure I understand what is being asked.',
  'This is a question I can work out step by step.',
  'Okay, let me take this one slowly so I do not make a mistake.',
];
const CLOSERS = ['I think that is right.', 'Let me check it once more. Yes, that looks right.', 'That should be the answer.'];

/** A wrong answer near the right one (an off-by-a-little slip, or two list items swapped). */
export function nearMiss(t: Task, r: () => number): string {
  if (t.family === 'sort') {
    const xs = t.answer.split(', ');
    const i = Math.floor(r() * (xs.length - 1));
    [xs[i], xs[i + 1]] = [xs[i + 1], xs[i]];
    return xs.join(', ');
  }
  const n = Number(t.answer);
  const deltas = t.family === 'count' || t.family === 'compare' ? [1, -1] : [1, -1, 10, -10, 2];
  let d = deltas[Math.floor(r() * deltas.length)];
  if (n + d < 0) d = -d;
  return String(n + d);
}

/** One thought of the given style and the answer it leads to. */
export function writeThought(t: Task, style: ThoughtStyle, r: () => number): { thought: string; answer: string } {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  switch (style) {
    case 'worked':
      return { thought: t.thought, answer: t.answer };
    case 'padded':
      return { thought: `${pick(OPENERS)} ${t.instruction} ${t.thought} ${pick(CLOSERS)}`, answer: t.answer };
    case 'slip': {
      const wrong = nearMiss(t, r);
      const at = t.thought.lastIndexOf(t.answer);
      const thought = at >= 0 ? t.thought.slice(0, at) + wrong + t.thought.slice(at + t.answer.length) : `${t.thought} So ${wrong}.`;
      return { thought, answer: wrong };
    }
    case 'guess': {
      const answer = r() < 0.5 ? t.answer : nearMiss(t, r);
      return { thought: `This looks easy, I can answer it directly.`, answer };
    }
  }
}

export function thoughtCompletion(thought: string, answer: string): string {
  return `${GENERIC.thoughtMarker} ${thought}\n\n${GENERIC.separator} ${answer}`;
}

export interface SftRow {
  prompt: ChatMessage[];
  completion: ChatMessage[];
  /** 'direct' or the thought style, for the training log. */
  kind: ThoughtStyle | 'direct';
}

/**
 * `thoughtShare` of the rows use the generic thought prompt (style drawn from STYLE_MIX), the rest
 * the bare instruction with the right answer. Seeded; rows come out shuffled.
 */
export function sftRows(tasks: Task[], seed: number, thoughtShare = 0.6): SftRow[] {
  const r = rng(seed);
  const rows: SftRow[] = tasks.map((t) => {
    if (r() >= thoughtShare) return { prompt: [{ role: 'user', content: t.instruction }], completion: [{ role: 'assistant', content: t.answer }], kind: 'direct' };
    let u = r(), style: ThoughtStyle = 'worked';
    for (const [s, p] of STYLE_MIX) { if (u < p) { style = s; break; } u -= p; }
    const { thought, answer } = writeThought(t, style, r);
    return { prompt: [{ role: 'user', content: renderPrompt(GENERIC, t.instruction) }], completion: [{ role: 'assistant', content: thoughtCompletion(thought, answer) }], kind: style };
  });
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  return rows;
}
