// Held-out evaluation: the TPO policy (thought generated, then hidden) against a baseline, each
// instruction judged twice with the order swapped (ties and missing verdicts count ½); win rate
// with a bootstrap 95% interval, the length-controlled win rate, parse failures and lengths.

import type { LoadedModel } from '../engine/model';
import type { LoraLayout } from '../train/lora';
import { scoreGroup, type Judge } from './judges';
import type { ThoughtPrompt } from './prompts';
import { respond } from './respond';
import { promptIds, type Instruction } from './loop';
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
  const outcomes: Outcome[] = [];
  for (let i = 0; i < items.length; i++) {
    const a = pol.responses[i],
      b = base.responses[i];
    let s: number;
    if (!a && !b) s = 0.5;
    else if (!a || !b)
      s = a ? 1 : 0; // a side that never produced a parsable answer loses
    else {
      // scoreGroup judges both orders for a pair-wise judge; a point-wise judge scores each once.
      const [sa, sb] = await scoreGroup(judge, items[i].instruction, [a, b], items[i].meta);
      s = sa > sb ? 1 : sa < sb ? 0 : 0.5;
    }
    outcomes.push(s as Outcome);
  }
  return {
    instructions: items.length,
    win_rate: winRate(outcomes),
    win_rate_ci95: bootstrapCI(outcomes, 2000, o.seed),
    lc_win_rate: lengthControlledWinRate(
      outcomes,
      pol.responses.map((r) => r.length),
      base.responses.map((r) => r.length),
    ),
    parse_failure_rate: items.length ? pol.firstFailures / items.length : 0,
    mean_thought_chars: mean(pol.thoughts.map((t) => t.length)),
    mean_response_chars: mean(pol.responses.map((r) => r.length)),
    baseline_response_chars: mean(base.responses.map((r) => r.length)),
  };
}
