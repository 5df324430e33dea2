// Thought prompts (the paper's, verbatim), the direct-response baseline, user templates, and
// splitting an output into thought and response.

import { UsageError } from '../errors';

export interface ThoughtPrompt {
  name: string;
  /** The user turn, with {instruction} where the instruction goes. */
  template: string;
  /** Text that opens the thought (removed from it), if any. */
  thoughtMarker?: string;
  /** Text after which the response starts; absent for the direct prompt (no thought). */
  separator?: string;
  /**
   * The model's own thought block is the thought (Qwen3's <think>…</think>): the chat template is
   * rendered with enable_thinking on, and the block's tags are the marker and the separator.
   * Everywhere else enable_thinking is rendered off.
   */
  nativeThinking?: boolean;
}

export const GENERIC: ThoughtPrompt = {
  name: 'generic',
  template:
    'Respond to the following user query in a comprehensive and detailed way. You can write down your thought ' +
    'process before responding. Write your thoughts after "Here is my thought process:" and write your response ' +
    'after "Here is my response:".\n\nUser query: {instruction}',
  thoughtMarker: 'Here is my thought process:',
  separator: 'Here is my response:',
};

export const SPECIFIC: ThoughtPrompt = {
  name: 'specific',
  template:
    'Respond to the following user query in a comprehensive and detailed way. But first write down your internal ' +
    'thoughts. This must include your draft response and its evaluation. After this, write your final response ' +
    'after "<R>".\n\nUser query: {instruction}',
  separator: '<R>',
};

/** The baseline: the instruction alone, the whole output is the response. */
export const DIRECT: ThoughtPrompt = { name: 'direct', template: '{instruction}' };

/** Native thinking: the bare instruction, and the model's own <think> block as the hidden thought. An
 *  output with no closing tag is a parse failure, as one without a separator is. */
export const NATIVE: ThoughtPrompt = {
  name: 'native',
  template: '{instruction}',
  thoughtMarker: '<think>',
  separator: '</think>',
  nativeThinking: true,
};

export const BUILTIN_PROMPTS: Record<string, ThoughtPrompt> = {
  ...{ generic: GENERIC, specific: SPECIFIC, direct: DIRECT, native: NATIVE },
};

/** How a prompt's chat template is rendered (see TemplateOptions). */
export const templateOptions = (p: ThoughtPrompt) => ({ enableThinking: p.nativeThinking === true });

/** A user template: must contain {instruction}; a separator makes it a thought prompt. */
export function customPrompt(
  template: string,
  separator?: string,
  thoughtMarker?: string,
  name = 'custom',
): ThoughtPrompt {
  if (!template.includes('{instruction}')) throw new UsageError('a thought-prompt template must contain {instruction}');
  if (separator !== undefined && !separator.trim()) throw new UsageError('the separator must not be empty');
  return { name, template, separator, thoughtMarker };
}

export function renderPrompt(p: ThoughtPrompt, instruction: string): string {
  return p.template.split('{instruction}').join(instruction);
}

export type Parsed = { ok: true; thought: string; response: string } | { ok: false; raw: string };

/**
 * Splits an output at the separator (its last occurrence, so a thought may mention it).
 * No separator, or an empty response → a parse failure: never shown, never judged.
 */
export function parseOutput(p: ThoughtPrompt, output: string): Parsed {
  if (!p.separator)
    return output.trim() ? { ok: true, thought: '', response: output.trim() } : { ok: false, raw: output };
  const at = output.lastIndexOf(p.separator);
  if (at < 0) return { ok: false, raw: output };
  let thought = output.slice(0, at);
  const response = output.slice(at + p.separator.length).trim();
  if (!response) return { ok: false, raw: output };
  if (p.thoughtMarker) {
    const m = thought.indexOf(p.thoughtMarker);
    if (m >= 0) thought = thought.slice(m + p.thoughtMarker.length);
  }
  return { ok: true, thought: thought.trim(), response };
}
