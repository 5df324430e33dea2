// The demo policy's own answers to demo tasks, judged right or wrong by the suite's rules: the
// training data of the embedded judges (the reward model, the pair-wise judge) and their AUCs.

import type { LoadedModel } from '../engine/model';
import { rulesJudge } from '../tpo/judges';
import { promptIds } from '../tpo/instructions';
import { GENERIC, parseOutput } from '../tpo/prompts';
import { demoJudgeRules, type Task } from './tasks';
import { PAPER_SAMPLING } from '../tpo/sampling';

/** A policy response judged by the rules: right (the exact answer) or wrong. */
export interface Judged {
  task: Task;
  response: string;
  right: boolean;
}

/** K samples a task from the policy with the thought prompt; the parsed responses, judged by the rules. */
export async function answer(policy: LoadedModel, tasks: Task[], k: number, seed: number): Promise<Judged[]> {
  const rules = rulesJudge(demoJudgeRules());
  const out: Judged[] = [];
  const per = Math.max(1, Math.floor(policy.forward.shape.slots / k));
  for (let i = 0; i < tasks.length; i += per) {
    const chunk = tasks.slice(i, i + per);
    const prompts = chunk.flatMap((t) => Array.from({ length: k }, () => promptIds(policy, GENERIC, t.instruction)));
    const seeds = prompts.map((_, j) => seed + (i * k + j));
    const gens = await policy.generate(prompts, { maxNewTokens: 128, ...PAPER_SAMPLING, seeds });
    const parsed = gens.map((g, j) => ({ task: chunk[Math.floor(j / k)], p: parseOutput(GENERIC, g.text ?? '') }));
    const ok = parsed.filter((x) => x.p.ok && x.p.response.trim());
    const scores = await rules.score(
      ok.map((x) => ({
        instruction: x.task.instruction,
        response: x.p.ok ? x.p.response : '',
        meta: { answer: x.task.answer },
      })),
    );
    ok.forEach((x, j) =>
      out.push({ task: x.task, response: x.p.ok ? x.p.response : '', right: (scores[j] ?? 0) >= 1 }),
    );
  }
  return out;
}

/** AUC of the reward model's scores: P(score(right) > score(wrong)) over every (right, wrong) pair, ties ½. */
export function auc(scores: number[], right: boolean[]): number {
  const pos = scores.filter((_, i) => right[i]);
  const neg = scores.filter((_, i) => !right[i]);
  let wins = 0;
  for (const p of pos) for (const n of neg) wins += p > n ? 1 : p === n ? 0.5 : 0;
  return pos.length && neg.length ? wins / (pos.length * neg.length) : Number.NaN;
}
