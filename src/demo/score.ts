// Scores a model on demo tasks with a thought prompt (or the direct prompt): one generation per
// task, thought hidden, response judged by the suite's programmatic judge. Reports accuracy (the
// exact answer), parse failures (no "Here is my response:", counted wrong — never retried here,
// so the rate shows how well the format is followed), mean judge score and thought length.

import type { LoadedModel } from '../engine/model';
import { rulesJudge } from '../tpo/judges';
import { promptIds } from '../tpo/instructions';
import { GENERIC, parseOutput, type ThoughtPrompt } from '../tpo/prompts';
import { thoughtCompletion, thoughtStyle } from './corpus';
import { demoJudgeRules, type Task } from './tasks';
import { mean } from '../tpo/scores';

export interface DemoScore {
  tasks: number;
  accuracy: number;
  parse_failure_rate: number;
  mean_score: number;
  mean_thought_chars: number;
  mean_response_chars: number;
  /** Accuracy per task family. */
  by_family: Record<string, number>;
  /** Share of each thought style (see corpus.ts) among the parsed thoughts; empty without a thought prompt. */
  thought_styles: Record<string, number>;
}

export interface ScoreOptions {
  temperature?: number; // 0 = greedy (default)
  seed?: number;
  maxNewTokens?: number;
}

export async function scoreTasks(
  model: LoadedModel,
  tasks: Task[],
  prompt: ThoughtPrompt,
  o: ScoreOptions = {},
): Promise<
  DemoScore & { responses: string[]; scores: number[]; thoughts: (string | undefined)[]; correct: boolean[] }
> {
  const judge = rulesJudge(demoJudgeRules());
  const gens = await model.generate(
    tasks.map((t) => promptIds(model, prompt, t.instruction)),
    {
      maxNewTokens: o.maxNewTokens ?? 160,
      temperature: o.temperature ?? 0,
      topP: 1,
      seed: o.seed ?? 0,
    },
  );
  const responses: string[] = [],
    thoughts: number[] = [],
    thoughtTexts: (string | undefined)[] = [];
  const styles: Record<string, number> = {};
  let failures = 0;
  for (const g of gens) {
    const p = parseOutput(prompt, g.text ?? '');
    if (!p.ok) {
      failures++;
      responses.push('');
      thoughtTexts.push(undefined);
      continue;
    }
    responses.push(p.response);
    thoughtTexts.push(prompt.separator ? p.thought : undefined);
    thoughts.push(p.thought.length);
    if (prompt.separator) {
      const st = thoughtStyle(p.thought);
      styles[st] = (styles[st] ?? 0) + 1;
    }
  }
  const scores = await judge.score(
    tasks.map((t, i) => ({ instruction: t.instruction, response: responses[i], meta: { answer: t.answer } })),
  );
  const right = tasks.map((t, i) => responses[i] !== '' && scores[i] >= 1);
  const fam: Record<string, [number, number]> = {};
  tasks.forEach((t, i) => {
    const f = (fam[t.family] ??= [0, 0]);
    f[0] += +right[i];
    f[1]++;
  });
  return {
    tasks: tasks.length,
    accuracy: mean(right.map(Number)),
    parse_failure_rate: failures / Math.max(1, tasks.length),
    mean_score: mean(scores.map((s, i) => (responses[i] ? s : 0))),
    mean_thought_chars: mean(thoughts),
    mean_response_chars: mean(responses.filter((r) => r).map((r) => r.length)),
    by_family: Object.fromEntries(Object.entries(fam).map(([k, [a, n]]) => [k, a / n])),
    thought_styles: Object.fromEntries(Object.entries(styles).map(([k, n]) => [k, n / Math.max(1, thoughts.length)])),
    responses,
    scores: scores.map((s, i) => (responses[i] ? s : 0)),
    thoughts: thoughtTexts,
    /** Per task: a parsed response with the exact answer. */
    correct: right,
  };
}

/**
 * Which characters of `text` are digits of a number it restates from the instruction: the digits of
 * each maximal digit run of `text` that is also a number of `instruction` (by position in `text`).
 */
export function restatedDigits(instruction: string, text: string): boolean[] {
  const numbers = new Set(instruction.match(/[0-9]+/g) ?? []);
  const out = new Array<boolean>(text.length).fill(false);
  for (const m of text.matchAll(/[0-9]+/g)) if (numbers.has(m[0])) out.fill(true, m.index!, m.index! + m[0].length);
  return out;
}

export interface DigitLogprob {
  /** Mean over every digit token of the worked thought and response. */
  all: number;
  /** Mean over the digits of numbers the thought restates from the instruction (pure copies). */
  copied: number;
}

/**
 * Whether the model reads the numbers at all: the mean log-probability of each digit token of a
 * correct worked thought and response (teacher-forced, the thought prompt), against ln(1/10) ≈ −2.30
 * for a model that guesses digits at chance — over all digits, and over the digits it only has to
 * copy from the instruction (near 0 once the model reads its input). Needs a model loaded with
 * maxOut ≥ the longest sequence.
 */
export async function digitLogprob(model: LoadedModel, tasks: Task[]): Promise<DigitLogprob> {
  const tok = model.tokenizer!;
  const sum = { all: 0, copied: 0 },
    n = { all: 0, copied: 0 };
  for (const t of tasks) {
    const prompt = promptIds(model, GENERIC, t.instruction);
    const text = thoughtCompletion(`Step by step: ${t.thought}`, t.answer);
    const completion = tok.encode(text, false);
    const copied = restatedDigits(t.instruction, text);
    const ids = [...prompt, ...completion];
    const logits = await model.logits(ids);
    const V = logits.length / ids.length;
    for (let i = 0; i < completion.length; i++) {
      if (!/^\d$/.test(tok.decode([completion[i]]))) continue;
      const p = prompt.length + i;
      const row = logits.subarray((p - 1) * V, p * V);
      let m = -Infinity;
      for (const x of row) m = Math.max(m, x);
      let z = 0;
      for (const x of row) z += Math.exp(x - m);
      const lp = row[ids[p]] - m - Math.log(z);
      sum.all += lp;
      n.all++;
      if (copied[tok.decode(completion.slice(0, i)).length]) {
        sum.copied += lp;
        n.copied++;
      }
    }
  }
  return { all: n.all ? sum.all / n.all : 0, copied: n.copied ? sum.copied / n.copied : 0 };
}
