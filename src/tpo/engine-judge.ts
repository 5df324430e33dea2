// A pair-wise LLM judge run by our own engine: the Self-Taught-Evaluator-style prompt through
// the judge model's chat template, greedy decoding (batched), verdict parsed from [[A]]/[[B]].

import type { LoadedModel } from '../engine/model';
import { UsageError } from '../errors';
import { pairwiseMessages, parseVerdict, type PairwiseJudge } from './judges';

export function enginePairwiseJudge(model: LoadedModel, name: string, maxNewTokens = 256): PairwiseJudge {
  const tok = model.tokenizer;
  if (!tok?.hasChatTemplate) throw new UsageError(`judge model ${name} has no tokenizer with a chat template`);
  return {
    kind: 'pairwise',
    name: `pairwise:${name}`,
    async compare(items) {
      const prompts = items.map((it) => tok.applyChatTemplate(pairwiseMessages(it.instruction, it.a, it.b)));
      const out = await model.generate(prompts, { maxNewTokens, temperature: 0 });
      return out.map((g) => parseVerdict(g.text ?? ''));
    },
  };
}
