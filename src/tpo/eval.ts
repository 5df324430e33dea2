// Held-out evaluation: the TPO policy (thought generated, then hidden) against a baseline. A
// pair-wise judge plays two games per instruction, one per order, each counted on its own (ties
// and missing verdicts ½); win rate over the games with a bootstrap 95% interval over
// instructions, the length-adjusted win rate (scores.ts), parse failures and lengths.

import type { LoadedModel } from '../engine/model';
import type { LoraLayout } from '../train/lora';
import type { Judge } from './judges';
import type { ThoughtPrompt } from './prompts';
import { respond } from './respond';
import { promptIds, type Instruction } from './instructions';
import { bootstrapCI, lengthControlledWinRate, mean, winRate, type Outcome } from './scores';

export interface Side {
  prompt: ThoughtPrompt;
  adapter: { layout: LoraLayout; values: Float32Array } | null;
}

export interface EvalResult {
  instructions: number;
  win_rate: number;
  win_rate_ci95: [number, number];
  lc_win_rate: number;
  parse_failure_rate: number; // of the policy's first attempts
  mean_thought_chars: number;
  mean_response_chars: number;
  baseline_response_chars: number;
}

export interface EvalOptions {
  maxNewTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  /** A policy output that fails to parse is resampled up to this many times (the paper resamples). */
  retries: number;
}

/** One response per instruction (thought hidden); resampled on parse failure. */
async function answers(
  model: LoadedModel,
  side: Side,
  items: Instruction[],
  o: EvalOptions,
): Promise<{ responses: string[]; thoughts: string[]; firstFailures: number }> {
  if (side.adapter) model.attachAdapter(side.adapter.layout, side.adapter.values);
  else model.detachAdapter();
  const prompts = items.map((x) => promptIds(model, side.prompt, x.instruction));
  const results = await respond(model, prompts, side.prompt, o);
  const responses = results.map((r) => (r.parsed.ok ? r.parsed.response : ''));
  const thoughts = results.map((r) => (r.parsed.ok ? r.parsed.thought : ''));
  const firstFailures = results.filter((r) => r.attempts > 1 || !r.parsed.ok).length;
  return { responses, thoughts, firstFailures };
}

/**
 * The games of one held-out instruction, each an Outcome for the policy (1 win, ½ tie or no
 * verdict, 0 loss). A pair-wise judge plays two games, one per order (policy as A, then as B),
 * each counted on its own; a point-wise judge scores both responses once: one game, no score on
 * either side = ½. A side with no parsable answer loses every game to one that has one.
 */
export async function judgeGames(
  judge: Judge,
  item: Instruction,
  policy: string,
  baseline: string,
): Promise<Outcome[]> {
  const games = judge.kind === 'pairwise' ? 2 : 1;
  if (!policy || !baseline) return new Array<Outcome>(games).fill(policy ? 1 : baseline ? 0 : 0.5);
  if (judge.kind === 'pairwise') {
    const [first, second] = await judge.compare([
      { instruction: item.instruction, a: policy, b: baseline },
      { instruction: item.instruction, a: baseline, b: policy },
    ]);
    return [first === 'A' ? 1 : first === 'B' ? 0 : 0.5, second === 'B' ? 1 : second === 'A' ? 0 : 0.5];
  }
  const [sp, sb] = await judge.score([
    { instruction: item.instruction, response: policy, meta: item.meta },
    { instruction: item.instruction, response: baseline, meta: item.meta },
  ]);
  if (sp === null || sb === null) return [0.5];
  return [sp > sb ? 1 : sp < sb ? 0 : 0.5];
}

/** Win rate over every game; its 95% interval by a bootstrap over instructions (each resampled
 *  instruction brings all its games); the length-adjusted win rate fit on each instruction's mean. */
export function summarizeGames(
  games: Outcome[][],
  lenPolicy: number[],
  lenBaseline: number[],
  seed: number,
): Pick<EvalResult, 'win_rate' | 'win_rate_ci95' | 'lc_win_rate'> {
  const perInstruction = games.map((g) => mean(g));
  return {
    win_rate: winRate(games.flat()),
    win_rate_ci95: bootstrapCI(perInstruction, 2000, seed),
    lc_win_rate: lengthControlledWinRate(perInstruction, lenPolicy, lenBaseline),
  };
}

export async function evaluate(
  model: LoadedModel,
  judge: Judge,
  items: Instruction[],
  policy: Side,
  baseline: Side,
  o: EvalOptions,
): Promise<EvalResult> {
  const pol = await answers(model, policy, items, o);
  const base = await answers(model, baseline, items, o);
  const games: Outcome[][] = [];
  for (let i = 0; i < items.length; i++)
    games.push(await judgeGames(judge, items[i], pol.responses[i], base.responses[i]));
  return {
    instructions: items.length,
    ...summarizeGames(
      games,
      pol.responses.map((r) => r.length),
      base.responses.map((r) => r.length),
      o.seed,
    ),
    parse_failure_rate: items.length ? pol.firstFailures / items.length : 0,
    mean_thought_chars: mean(pol.thoughts.map((t) => t.length)),
    mean_response_chars: mean(pol.responses.map((r) => r.length)),
    baseline_response_chars: mean(base.responses.map((r) => r.length)),
  };
}
