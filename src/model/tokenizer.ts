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

/** How a template is rendered beyond its messages. */
export interface TemplateOptions {
  /**
   * For templates that know `enable_thinking` (Qwen3, SmolLM3 and the like): whether the model
   * opens its own thought block. Always passed to such a template, never left to its default:
   * false unless asked (the direct baseline, TPO's thought prompts and judge prompts all need a
   * model that does not think natively); true for the native thought mode.
   */
  enableThinking?: boolean;
}

export interface Tokenizer {
  encode(text: string, addSpecialTokens?: boolean): number[];
  decode(ids: number[], skipSpecialTokens?: boolean): string;
  /** The model's own chat template applied to messages, as token ids. */
  applyChatTemplate(messages: ChatMessage[], addGenerationPrompt?: boolean, o?: TemplateOptions): number[];
  chatTemplateText(messages: ChatMessage[], addGenerationPrompt?: boolean, o?: TemplateOptions): string;
  hasChatTemplate: boolean;
  /** The chat template reads `enable_thinking`: the model can think natively inside <think>…</think>. */
  thinkingToggle: boolean;
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
  await checkVocabulary(src, json);
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

/** The largest id tokenizer.json can produce: its model's vocabulary and its added tokens. */
export function tokenizerMaxId(json: object): number {
  const j = json as { model?: { vocab?: unknown }; added_tokens?: { id: number }[] };
  const vocab = j.model?.vocab;
  let max = -1;
  if (Array.isArray(vocab))
    max = vocab.length - 1; // Unigram: [piece, score] rows
  else if (vocab && typeof vocab === 'object') for (const id of Object.values(vocab)) max = Math.max(max, Number(id));
  for (const t of j.added_tokens ?? []) max = Math.max(max, t.id);
  return max;
}

/** A tokenizer that can produce ids past the model's embedding rows belongs to another model. */
async function checkVocabulary(src: ModelSource, json: object): Promise<void> {
  const config = (await readJson(src, 'config.json', false)) as { vocab_size?: unknown } | undefined;
  const rows = Number(config?.vocab_size);
  if (!Number.isInteger(rows)) return;
  const max = tokenizerMaxId(json);
  if (max >= rows)
    throw new ModelSourceError(
      `${src.label}: tokenizer.json has ids up to ${max} but config.json's vocab_size is ${rows}`,
      'The tokenizer belongs to another model: use the tokenizer.json and tokenizer_config.json of the same repo as ' +
        'the weights.',
    );
}

function wrap(tok: PreTrainedTokenizer, config: Record<string, unknown>): Tokenizer {
  const eos = new Set<number>();
  if (typeof tok.eos_token_id === 'number') eos.add(tok.eos_token_id);
  const hasChatTemplate =
    typeof config.chat_template === 'string' ||
    (typeof config.chat_template === 'object' && config.chat_template !== null);
  const thinkingToggle = hasChatTemplate && JSON.stringify(config.chat_template).includes('enable_thinking');
  const noTemplate = () =>
    new ModelSourceError(
      'This tokenizer has no chat_template',
      'Use --prompt-ids, or a model with a chat template in tokenizer_config.json.',
    );
  const noThinking = () =>
    new ModelSourceError(
      "This model's chat template has no enable_thinking: it does not think natively",
      'Native thought mode needs a model whose template knows enable_thinking (Qwen3, SmolLM3); use the generic ' +
        'thought prompt with this one.',
    );
  return {
    encode: (text, addSpecialTokens = true) => tok.encode(text, { add_special_tokens: addSpecialTokens }),
    // transformers.js throws on an empty list (a generation that stopped at once): that is ''.
    decode: (ids, skipSpecialTokens = true) =>
      ids.length ? tok.decode(ids, { skip_special_tokens: skipSpecialTokens }) : '',
    applyChatTemplate(messages, addGenerationPrompt = true, o = {}) {
      if (!hasChatTemplate) throw noTemplate();
      // Tokenise the rendered text without adding special tokens again (the template has them).
      return tok.encode(this.chatTemplateText(messages, addGenerationPrompt, o), { add_special_tokens: false });
    },
    chatTemplateText(messages, addGenerationPrompt = true, o = {}) {
      if (!hasChatTemplate) throw noTemplate();
      if (o.enableThinking && !thinkingToggle) throw noThinking();
      return tok.apply_chat_template(messages, {
        add_generation_prompt: addGenerationPrompt,
        tokenize: false,
        ...(thinkingToggle ? { enable_thinking: o.enableThinking ?? false } : {}),
      }) as unknown as string;
    },
    hasChatTemplate,
    thinkingToggle,
    eosTokenIds: [...eos],
    raw: tok,
  };
}
