// Tokenizer and chat template through @huggingface/transformers. tokenizer.json and
// tokenizer_config.json are read through the same ModelSource as the weights (folder, dropped
// files or hub, with the same cache and progress), then the tokenizer class is chosen exactly as
// AutoTokenizer does (tokenizer_class without "Fast", else PreTrainedTokenizer).

import type { PreTrainedTokenizer } from '@huggingface/transformers';
import { ModelSourceError } from '../errors';
import { readJson, type ModelSource } from './source';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface Tokenizer {
  encode(text: string, addSpecialTokens?: boolean): number[];
  decode(ids: number[], skipSpecialTokens?: boolean): string;
  /** The model's own chat template applied to messages, as token ids. */
  applyChatTemplate(messages: ChatMessage[], addGenerationPrompt?: boolean): number[];
  chatTemplateText(messages: ChatMessage[], addGenerationPrompt?: boolean): string;
  hasChatTemplate: boolean;
  eosTokenIds: number[];
  raw: PreTrainedTokenizer;
}

type TokenizerClass = new (json: object, config: object) => PreTrainedTokenizer;

export async function loadTokenizer(src: ModelSource): Promise<Tokenizer | null> {
  const json = (await readJson(src, 'tokenizer.json', false)) as object | undefined;
  if (!json) return null;
  const config = ((await readJson(src, 'tokenizer_config.json', false)) ?? {}) as Record<string, unknown>;
  if (config.chat_template === undefined) {
    // Newer repos keep the template in a separate file.
    const jinja = await src.read('chat_template.jinja');
    if (jinja) config.chat_template = new TextDecoder().decode(jinja);
  }
  // Loaded on demand: models without a tokenizer never pay for the library.
  const transformers = await import('@huggingface/transformers');
  const name =
    typeof config.tokenizer_class === 'string' ? config.tokenizer_class.replace(/Fast$/, '') : 'PreTrainedTokenizer';
  const registry = transformers as unknown as Record<string, TokenizerClass | undefined>;
  const Cls = (/Tokenizer$/.test(name) && registry[name]) || transformers.PreTrainedTokenizer;
  let tok: PreTrainedTokenizer;
  try {
    tok = new (Cls as TokenizerClass)(json, config);
  } catch (e) {
    throw new ModelSourceError(`${src.label}: tokenizer.json could not be loaded (${(e as Error).message})`);
  }
  return wrap(tok, config);
}

function wrap(tok: PreTrainedTokenizer, config: Record<string, unknown>): Tokenizer {
  const eos = new Set<number>();
  if (typeof tok.eos_token_id === 'number') eos.add(tok.eos_token_id);
  const hasChatTemplate =
    typeof config.chat_template === 'string' ||
    (typeof config.chat_template === 'object' && config.chat_template !== null);
  const noTemplate = () =>
    new ModelSourceError(
      'This tokenizer has no chat_template',
      'Use --prompt-ids, or a model with a chat template in tokenizer_config.json.',
    );
  return {
    encode: (text, addSpecialTokens = true) => tok.encode(text, { add_special_tokens: addSpecialTokens }),
    // transformers.js throws on an empty list (a generation that stopped at once): that is ''.
    decode: (ids, skipSpecialTokens = true) =>
      ids.length ? tok.decode(ids, { skip_special_tokens: skipSpecialTokens }) : '',
    applyChatTemplate(messages, addGenerationPrompt = true) {
      if (!hasChatTemplate) throw noTemplate();
      // Tokenise the rendered text without adding special tokens again (the template has them).
      return tok.encode(this.chatTemplateText(messages, addGenerationPrompt), { add_special_tokens: false });
    },
    chatTemplateText(messages, addGenerationPrompt = true) {
      if (!hasChatTemplate) throw noTemplate();
      return tok.apply_chat_template(messages, {
        add_generation_prompt: addGenerationPrompt,
        tokenize: false,
      }) as unknown as string;
    },
    hasChatTemplate,
    eosTokenIds: [...eos],
    raw: tok,
  };
}
