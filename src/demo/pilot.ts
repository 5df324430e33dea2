// The pilot of the chain suite (`npm run experiment -- --pilot`): before any TPO run, can the
// model execute the scratchpads its chain tasks need, and can it not answer them at once? By chain
// length, greedy: the model's own worked thought (the thought prompt with the assistant turn
// opened as a worked scratchpad, "Here is my thought process: Working it out:", the rest the
// model's), its direct answer (the bare instruction), and its habit (the thought prompt, nothing
// forced). Gate (issue 29): worked ≥ 70% at the evaluated lengths while direct stays ≤ 35%.

import type { LoadedModel } from '../engine/model';
import { promptIds } from '../tpo/instructions';
import { DIRECT, GENERIC, parseOutput } from '../tpo/prompts';
import { thoughtCompletion, thoughtStyle, WORKED_OPENERS } from './corpus';
import { scoreTasks } from './score';
import { demoJudgeRules, type Task } from './tasks';
import { type StepError, stepErrors } from './chains';
import { rulesJudge } from '../tpo/judges';

/** How the forced worked thought opens: one of the corpus's two openers. */
export const WORKED_OPENER = WORKED_OPENERS[1];
export const PILOT_GATE = { worked: 0.7, direct: 0.35 };

export interface PilotCell {
  length: number;
  tasks: number;
  worked: number;
  direct: number;
  habit: number;
  /** Share of the habit's (unforced) thoughts that are scratchpads. */
  habit_scratchpad: number;
  /** The forced worked thoughts read step by step (chains.ts stepErrors): the share of written
   *  steps that are right table entries for their own operands, and where thoughts first go wrong. */
  step_table_accuracy: number;
  first_errors: Record<StepError, number>;
}

/**
 * The forced opening's token ids: the encoding of the completion's opening that is a prefix of
 * the encoding of a whole worked completion (so generation continues exactly where training's
 * tokens would), with or without the space after the opener.
 */
export function forcedOpening(model: LoadedModel, sample: Task): number[] {
  const tok = model.tokenizer;
  if (!tok) throw new Error('the pilot needs a model with a tokenizer');
  const full = tok.encode(thoughtCompletion(`${WORKED_OPENER} ${sample.thought}`, sample.answer), false);
  const head = `${GENERIC.thoughtMarker} ${WORKED_OPENER}`;
  for (const text of [`${head} `, head]) {
    const ids = tok.encode(text, false);
    if (ids.every((id, i) => full[i] === id)) return ids;
  }
  throw new Error(`the tokenizer does not split "${head}" at the same place inside a completion`);
}

/** Greedy worked thoughts the model continues after the forced opening: right or not, and the thought. */
async function workedThoughts(model: LoadedModel, tasks: Task[]): Promise<{ right: boolean[]; thoughts: string[] }> {
  const opening = forcedOpening(model, tasks[0]);
  const openingText = model.tokenizer!.decode(opening);
  const gens = await model.generate(
    tasks.map((t) => [...promptIds(model, GENERIC, t.instruction), ...opening]),
    { maxNewTokens: 128, temperature: 0, topP: 1, seed: 0 },
  );
  const parsed = gens.map((g) => parseOutput(GENERIC, openingText + (g.text ?? '')));
  const responses = parsed.map((p) => (p.ok ? p.response : ''));
  const thoughts = parsed.map((p, i) => (p.ok ? p.thought : openingText + (gens[i].text ?? '')));
  // judged as scoreTasks judges (the suite's rules: the exact answer)
  const scores = await rulesJudge(demoJudgeRules()).score(
    tasks.map((t, i) => ({ instruction: t.instruction, response: responses[i], meta: { answer: t.answer } })),
  );
  return { right: tasks.map((_, i) => responses[i] !== '' && scores[i] >= 1), thoughts };
}

export async function pilot(model: LoadedModel, chains: Task[]): Promise<PilotCell[]> {
  const worked = await workedThoughts(model, chains);
  const steps = chains.map((t, i) => stepErrors(t.chain!, worked.thoughts[i]));
  const direct = await scoreTasks(model, chains, DIRECT);
  const habit = await scoreTasks(model, chains, GENERIC);
  const lengths = [...new Set(chains.map((t) => t.chain!.steps.length))].sort((a, b) => a - b);
  return lengths.map((length) => {
    const at = chains.map((t, i) => (t.chain!.steps.length === length ? i : -1)).filter((i) => i >= 0);
    const share = (ok: (i: number) => boolean) => at.filter(ok).length / at.length;
    const sum = (f: (i: number) => number) => at.reduce((s, i) => s + f(i), 0);
    const first_errors = { copy: 0, carry: 0, table: 0, format: 0 };
    for (const i of at) if (steps[i].first) first_errors[steps[i].first!]++;
    return {
      length,
      tasks: at.length,
      worked: share((i) => worked.right[i]),
      direct: share((i) => direct.correct[i]),
      habit: share((i) => habit.correct[i]),
      habit_scratchpad: share((i) => habitIsScratchpad(habit.thoughts[i])),
      step_table_accuracy:
        sum((i) => steps[i].table) /
        Math.max(
          1,
          sum((i) => steps[i].written),
        ),
      first_errors,
    };
  });
}

const habitIsScratchpad = (thought?: string) => thought !== undefined && thoughtStyle(thought) === 'scratchpad';

export function pilotTable(cells: PilotCell[]): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  return [
    '| chain length | tasks | worked thought (forced opening) | direct answer | thought prompt, unforced | ' +
      'scratchpads unforced | worked steps right | first error: copy / carry / table / format |',
    '|---|---|---|---|---|---|---|---|',
    ...cells.map((c) => {
      const shares = [c.worked, c.direct, c.habit, c.habit_scratchpad, c.step_table_accuracy].map(pct);
      const e = c.first_errors;
      return `| ${c.length} | ${c.tasks} | ${shares.join(' | ')} | ${e.copy} / ${e.carry} / ${e.table} / ${e.format} |`;
    }),
  ].join('\n');
}
