// One chat answer with the thought hidden: generates with the thought prompt, reports "thinking"
// (a token count) until the separator appears, then streams the answer; an output with no
// separator (a parse failure) is resampled, never returned as an answer.

import type { LoadedModel } from '../engine/model';
import { customPrompt, parseOutput, renderPrompt } from '../tpo/prompts';
import type { ChatReply, ChatRequest, ChatUpdate } from './protocol';

export async function chatTurn(
  m: LoadedModel,
  req: ChatRequest,
  onUpdate?: (u: ChatUpdate) => void,
): Promise<ChatReply> {
  const tok = m.tokenizer;
  if (!tok) throw new Error('this model has no tokenizer: chat needs one');
  const prompt = req.thought
    ? customPrompt(req.thought.template, req.thought.separator, req.thought.thoughtMarker)
    : customPrompt('{instruction}');
  const content = renderPrompt(prompt, req.instruction);
  const ids = tok.hasChatTemplate ? tok.applyChatTemplate([{ role: 'user', content }]) : tok.encode(content);
  const t0 = performance.now();
  let tokens = 0;
  for (let attempt = 1; attempt <= req.retries + 1; attempt++) {
    const out: number[] = [];
    let answering = !prompt.separator;
    let lastAnswer = '';
    const [g] = await m.generate([ids], {
      maxNewTokens: req.maxNewTokens,
      temperature: attempt > 1 ? Math.max(req.temperature, 0.7) : req.temperature,
      topP: req.topP ?? 1,
      seed: req.seed + 7919 * (attempt - 1),
      onToken: (_s, id) => {
        out.push(id);
        tokens++;
        if (!onUpdate) return;
        const text = tok.decode(out);
        if (!answering && prompt.separator && text.includes(prompt.separator)) answering = true;
        const answer = answering
          ? (prompt.separator
              ? text.slice(text.lastIndexOf(prompt.separator) + prompt.separator.length)
              : text
            ).trimStart()
          : '';
        if (answer !== lastAnswer || !answering)
          onUpdate({
            phase: answering ? 'answering' : 'thinking',
            attempt,
            thoughtTokens: answering ? 0 : out.length,
            answer,
          });
        lastAnswer = answer;
      },
    });
    const p = parseOutput(prompt, g.text ?? '');
    if (p.ok)
      return {
        ok: true,
        thought: p.thought,
        answer: p.response,
        attempts: attempt,
        tokens,
        seconds: (performance.now() - t0) / 1000,
      };
  }
  return {
    ok: false,
    thought: '',
    answer: '',
    attempts: req.retries + 1,
    tokens,
    seconds: (performance.now() - t0) / 1000,
  };
}
