// Checkpoint selection. The paper trains several DPO epochs per iteration and keeps the best
// checkpoint on a validation set; without it, iterative DPO on a small model can over-optimise
// (both log-ratios pushed down) and the next iteration samples from a wrecked model.
// Candidates: M_t itself ("epoch 0", no update) and the adapter after every DPO epoch. Each answers
// the validation instructions greedily with the iteration's prompt; the judge sees the responses
// only (thoughts hidden). Per instruction the candidates are ranked by the judge; a candidate's
// figure is its mean share of wins over the other candidates (ties ½; an output that fails to
// parse loses to every one that parses). The best figure is kept, the earliest epoch on ties.

import type { LoadedModel } from '../engine/model';
import type { LoraLayout } from '../train/lora';
import { scoreGroup, type Judge } from './judges';
import { parseOutput, type ThoughtPrompt } from './prompts';
import { promptIds, type Instruction } from './instructions';
import { mean } from './scores';
import type { SelectionRecord } from './store';

/** Greedy responses [items] of the model with this adapter; null where the output does not parse. */
export async function validationResponses(
  model: LoadedModel,
  prompt: ThoughtPrompt,
  items: Instruction[],
  adapter: { layout: LoraLayout; values: Float32Array },
  maxNewTokens: number,
): Promise<(string | null)[]> {
  model.attachAdapter(adapter.layout, adapter.values);
  const gens = await model.generate(
    items.map((x) => promptIds(model, prompt, x.instruction)),
    { maxNewTokens, temperature: 0, topP: 1, seed: 0 },
  );
  model.detachAdapter();
  return gens.map((g) => {
    const p = parseOutput(prompt, g.text ?? '');
    return p.ok ? p.response : null;
  });
}

/** scores[candidate][instruction] (null = parse failure) → each candidate's mean share of wins over the others. */
export function winShares(scores: (number | null)[][]): number[] {
  const c = scores.length,
    n = scores[0]?.length ?? 0;
  if (c < 2 || n === 0) return scores.map(() => 0.5);
  const beats = (a: number | null, b: number | null) =>
    a === b ? 0.5 : a === null ? 0 : b === null ? 1 : a > b ? 1 : 0;
  return scores.map((mine, k) => {
    let total = 0;
    for (let i = 0; i < n; i++) {
      let w = 0;
      for (let j = 0; j < c; j++) if (j !== k) w += beats(mine[i], scores[j][i]);
      total += w / (c - 1);
    }
    return total / n;
  });
}

/** Judges every candidate's responses: [candidate][instruction], null where it did not parse. */
async function judgeCandidates(
  judge: Judge,
  items: Instruction[],
  responses: (string | null)[][],
): Promise<(number | null)[][]> {
  const out = responses.map((r) => r.map(() => null as number | null));
  if (judge.kind === 'pointwise') {
    const at: [number, number][] = [];
    responses.forEach((r, k) =>
      r.forEach((x, i) => {
        if (x !== null) at.push([k, i]);
      }),
    );
    const s = at.length
      ? await judge.score(
          at.map(([k, i]) => ({ instruction: items[i].instruction, response: responses[k][i]!, meta: items[i].meta })),
        )
      : [];
    at.forEach(([k, i], j) => (out[k][i] = s[j]));
    return out;
  }
  // Pair-wise: scores only compare within one instruction's group, which is all the ranking needs.
  for (let i = 0; i < items.length; i++) {
    const distinct = [...new Set(responses.map((r) => r[i]).filter((x): x is string => x !== null))];
    const s =
      distinct.length > 1
        ? await scoreGroup(judge, items[i].instruction, distinct, items[i].meta)
        : distinct.map(() => 0);
    responses.forEach((r, k) => {
      if (r[i] !== null) out[k][i] = s[distinct.indexOf(r[i]!)];
    });
  }
  return out;
}

/** Ranks the candidates (responses[k]: epoch k, 0 = M_t) on the validation items and picks one. */
export async function selectCheckpoint(
  judge: Judge,
  items: Instruction[],
  responses: (string | null)[][],
): Promise<SelectionRecord> {
  const scores = await judgeCandidates(judge, items, responses);
  const shares = winShares(scores);
  let best = 0;
  shares.forEach((s, k) => {
    if (s > shares[best] + 1e-12) best = k;
  });
  return {
    instructions: items.length,
    candidates: responses.map((r, epoch) => ({
      epoch,
      win_share: shares[epoch],
      mean_score: judge.kind === 'pointwise' ? mean(scores[epoch].filter((s): s is number => s !== null)) : null,
      parse_failure_rate: items.length ? r.filter((x) => x === null).length / items.length : 0,
    })),
    chosen_epoch: best,
  };
}
