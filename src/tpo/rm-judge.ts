// A point-wise reward-model judge run by our own engine: a *ForSequenceClassification checkpoint
// (Llama, Qwen2, Qwen3 — e.g. the small Skywork-Reward-V2 models) scores the conversation
// [user: instruction, assistant: response] with its score head on the last token.

import type { LoadedModel } from '../engine/model';
import { UsageError } from '../errors';
import type { ScoringJudge } from './judges';

export function rewardModelJudge(model: LoadedModel, name: string): ScoringJudge {
  if (model.config.head !== 'score')
    throw new UsageError(
      `${name} is not a reward model (no *ForSequenceClassification head)`,
      'Use rm: with a sequence-classification checkpoint, or pairwise: for a chat model.',
    );
  const tok = model.tokenizer;
  if (!tok) throw new UsageError(`reward model ${name} has no tokenizer`);
  const stats = { tokens: 0 };
  return {
    kind: 'pointwise',
    name: `rm:${name}`,
    stats,
    async score(items) {
      const seqs = items.map((it) => {
        const messages = [
          { role: 'user' as const, content: it.instruction },
          { role: 'assistant' as const, content: it.response },
        ];
        return tok.hasChatTemplate
          ? tok.applyChatTemplate(messages, false)
          : tok.encode(`${it.instruction}\n${it.response}`);
      });
      const scores = (await model.score(seqs)).map((s) => s[0]);
      stats.tokens += seqs.reduce((a, s) => a + s.length, 0);
      return scores;
    },
  };
}
