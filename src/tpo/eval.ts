// Held-out evaluation: the TPO policy (thought generated, then hidden) against a baseline, each
// instruction judged twice with the order swapped (ties and missing verdicts count ½); win rate
// with a bootstrap 95% interval, the length-controlled win rate, parse failures and lengths.

import type { LoadedModel } from '../engine/model';
import type { LoraLayout } from '../train/lora';
import { scoreGroup, type Judge } from './judges';
import { parseOutput, type ThoughtPrompt } from './prompts';
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
async function respond(
  model: LoadedModel,
  side: Side,
  items: Instruction[],
  o: EvalOptions,
): Promise<{ responses: string[]; thoughts: string[]; firstFailures: number }> {
  if (side.adapter) model.attachAdapter(side.adapter.layout, side.adapter.values);
  else model.detachAdapter();
  const responses = new Array<string>(items.length).fill('');
  const thoughts = new Array<string>(items.length).fill('');
  let pending = items.map((_, i) => i);
  let firstFailures = 0;
  for (let attempt = 0; attempt <= o.retries && pending.length; attempt++) {
    const gens = await model.generate(
      pending.map((i) => promptIds(model, side.prompt, items[i].instruction)),
      {
        maxNewTokens: o.maxNewTokens,
        temperature: attempt ? Math.max(o.temperature, 0.7) : o.temperature,
        topP: o.topP,
        seeds: pending.map((i) => o.seed + 7919 * attempt + i),
      },
    );
    const next: number[] = [];
    gens.forEach((g, k) => {
      const p = parseOutput(side.prompt, g.text ?? '');
      if (p.ok) {
        responses[pending[k]] = p.response;
        thoughts[pending[k]] = p.thought;
      } else next.push(pending[k]);
    });
    if (attempt === 0) firstFailures = next.length;
    pending = next;
  }
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
  const pol = await respond(model, policy, items, o);
  const base = await respond(model, baseline, items, o);
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
