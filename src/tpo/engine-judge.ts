// A pair-wise LLM judge run by our own engine: the Self-Taught-Evaluator-style prompt through
// the judge model's chat template, greedy decoding (batched), verdict parsed from [[A]]/[[B]].

import type { LoadedModel } from '../engine/model';
import { UsageError } from '../errors';
import { pairwiseMessages, parseVerdict, type PairwiseJudge } from './judges';

/** Room the verdict needs after the prompt: "[[A]]" and the end of the turn, in any tokenizer. */
const VERDICT_ROOM = 8;

export function enginePairwiseJudge(model: LoadedModel, name: string, maxNewTokens = 256): PairwiseJudge {
  const tok = model.tokenizer;
  if (!tok?.hasChatTemplate) throw new UsageError(`judge model ${name} has no tokenizer with a chat template`);
  const stats = { tokens: 0 };
  const context = model.forward.shape.maxLen;
  return {
    kind: 'pairwise',
    name: `pairwise:${name}`,
    stats,
    async compare(items) {
      const prompts = items.map((it) => tok.applyChatTemplate(pairwiseMessages(it.instruction, it.a, it.b)));
      const longest = Math.max(0, ...prompts.map((p) => p.length));
      if (longest + VERDICT_ROOM > context)
        throw new UsageError(
          `the pair-wise judge prompt takes ${longest} tokens and judge model ${name} holds ${context} positions ` +
            `(${VERDICT_ROOM} more are needed for its verdict)`,
          'Choose a judge model with a longer context (the embedded demo has ./models/tpo-demo-judge/), ' +
            'or shorten the responses (max new tokens).',
        );
      const out = await model.generate(prompts, { maxNewTokens, temperature: 0 });
      stats.tokens += prompts.reduce((a, p) => a + p.length, 0) + out.reduce((a, g) => a + g.tokenIds.length, 0);
      return out.map((g) => parseVerdict(g.text ?? ''));
    },
  };
}
