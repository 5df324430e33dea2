// One chat answer with the thought hidden: generates with the thought prompt, reports "thinking"
// (a token count) until the separator appears, then streams the answer; an output with no
// separator (a parse failure) is resampled, never returned as an answer.

import type { LoadedModel } from '../engine/model';
import { promptIds } from '../tpo/instructions';
import { customPrompt, NATIVE } from '../tpo/prompts';
import { respond } from '../tpo/respond';
import type { ChatReply, ChatRequest, ChatUpdate } from './protocol';

export async function chatTurn(
  m: LoadedModel,
  req: ChatRequest,
  onUpdate?: (u: ChatUpdate) => void,
): Promise<ChatReply> {
  const tok = m.tokenizer;
  if (!tok) throw new Error('this model has no tokenizer: chat needs one');
  const prompt = req.thought
    ? req.thought.native
      ? NATIVE
      : customPrompt(req.thought.template, req.thought.separator, req.thought.thoughtMarker)
    : customPrompt('{instruction}');
  const ids = promptIds(m, prompt, req.instruction);
  const t0 = performance.now();
  let tokens = 0;
  let out: number[] = [];
  let current = -1;
  let answering = false;
  let lastAnswer = '';
  /** Streams "thinking" (a token count) until the separator appears, then the answer so far. */
  const onToken = (_seq: number, id: number, attempt: number) => {
    if (attempt !== current) [current, out, answering, lastAnswer] = [attempt, [], !prompt.separator, ''];
    out.push(id);
    tokens++;
    if (!onUpdate) return;
    const text = tok.decode(out);
    if (!answering && prompt.separator && text.includes(prompt.separator)) answering = true;
    const sep = prompt.separator;
    const answer = answering ? (sep ? text.slice(text.lastIndexOf(sep) + sep.length) : text).trimStart() : '';
    if (answer !== lastAnswer || !answering)
      onUpdate({
        phase: answering ? 'answering' : 'thinking',
        attempt: attempt + 1,
        thoughtTokens: answering ? 0 : out.length,
        answer,
      });
    lastAnswer = answer;
  };
  const o = { maxNewTokens: req.maxNewTokens, temperature: req.temperature, topP: req.topP ?? 1, seed: req.seed };
  const [r] = await respond(m, [ids], prompt, { ...o, retries: req.retries, onToken });
  const seconds = (performance.now() - t0) / 1000;
  if (r.parsed.ok)
    return { ok: true, thought: r.parsed.thought, answer: r.parsed.response, attempts: r.attempts, tokens, seconds };
  return { ok: false, thought: '', answer: '', attempts: r.attempts, tokens, seconds };
}
