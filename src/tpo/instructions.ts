// What TPO runs on: an instruction with the fields its judge reads, and the token ids of its
// prompt as the model sees it (the thought prompt rendered, then the model's chat template).

import type { LoadedModel } from '../engine/model';
import { UsageError } from '../errors';
import { renderPrompt, templateOptions, type ThoughtPrompt } from './prompts';

export interface Instruction {
  id: string;
  instruction: string;
  /** Other fields of the prompts file (e.g. "answer"), handed to programmatic judges. */
  meta: Record<string, unknown>;
}

export function promptIds(model: LoadedModel, p: ThoughtPrompt, instruction: string): number[] {
  const tok = model.tokenizer;
  if (!tok) throw new UsageError('TPO needs a model with a tokenizer');
  const content = renderPrompt(p, instruction);
  if (!tok.hasChatTemplate) {
    if (p.nativeThinking)
      throw new UsageError('native thinking needs a chat template with enable_thinking; this model has no template');
    return tok.encode(content);
  }
  return tok.applyChatTemplate([{ role: 'user', content }], true, templateOptions(p));
}
