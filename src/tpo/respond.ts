// Generation with the thought prompt, resampled where an output has no separator (a parse
// failure: never shown as an answer, never judged). One rule everywhere — the CLI's generate, the
// app's chat and the evaluation: attempt a of sequence i draws with seed + i + 7919·a, and a
// retry samples at temperature ≥ 0.7 (greedy would repeat the failure).

import type { LoadedModel } from '../engine/model';
import type { Generation } from '../engine/generate';
import { parseOutput, type Parsed, type ThoughtPrompt } from './prompts';

export interface RespondOptions {
  maxNewTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  /** Resamples after the first attempt (0: none). */
  retries: number;
  stopStrings?: string[];
  /** Each sampled token of sequence `seq` in attempt `attempt` (0-based). */
  onToken?: (seq: number, id: number, attempt: number) => void;
}

export interface Response {
  generation: Generation;
  parsed: Parsed;
  /** Attempts made for this sequence (1 + resamples). */
  attempts: number;
}

export const RETRY_SEED_STRIDE = 7919;

/** Generates one output per prompt and resamples those that do not parse, up to `retries` times. */
export async function respond(
  model: LoadedModel,
  prompts: number[][],
  prompt: ThoughtPrompt,
  o: RespondOptions,
): Promise<Response[]> {
  const out: Response[] = new Array(prompts.length);
  let pending = prompts.map((_, i) => i);
  for (let attempt = 0; attempt <= o.retries && pending.length; attempt++) {
    const gens = await model.generate(
      pending.map((i) => prompts[i]),
      {
        maxNewTokens: o.maxNewTokens,
        temperature: attempt ? Math.max(o.temperature, 0.7) : o.temperature,
        topP: o.topP,
        seeds: pending.map((i) => o.seed + i + RETRY_SEED_STRIDE * attempt),
        stopStrings: o.stopStrings,
        onToken: o.onToken ? (s, id) => o.onToken?.(pending[s], id, attempt) : undefined,
      },
    );
    const next: number[] = [];
    gens.forEach((generation, k) => {
      const parsed = parseOutput(prompt, generation.text ?? '');
      out[pending[k]] = { generation, parsed, attempts: attempt + 1 };
      if (!parsed.ok) next.push(pending[k]);
    });
    pending = next;
  }
  return out;
}
