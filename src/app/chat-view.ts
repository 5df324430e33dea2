// The Chat screen: only final answers are shown. While the model thinks, a "thinking…" indicator
// counts its tokens; the answer streams once the separator is passed; a closed "show thinking"
// disclosure holds the thought for learners. Parse failures are retried in the worker, never shown
// as answers. Compare mode answers with the base model and with the attached adapter side by side.
// A model without a tokenizer (stories260K) gets a raw continuation as token ids.

import type { ChatReply, ChatUpdate } from '../worker/protocol';
import { GENERIC } from '../tpo/prompts';
import { $, el, fail, num, val } from './dom';
import { engine, proxy, state } from './engine';

function answerCard(title: string | null): {
  root: HTMLElement;
  body: HTMLElement;
  update: (u: ChatUpdate) => void;
  finish: (r: ChatReply) => void;
} {
  const root = el('div', undefined, 'msg assistant');
  if (title) root.append(el('div', title, 'side'));
  const body = el('p', '', 'answer');
  root.append(body);
  return {
    root,
    body,
    update: (u) => {
      if (u.phase === 'thinking') {
        $('thinking').hidden = false;
        $('thinking').textContent =
          `Thinking… ${u.thoughtTokens} tokens${u.attempt > 1 ? ` (attempt ${u.attempt})` : ''}`;
      } else {
        $('thinking').hidden = true;
        body.textContent = u.answer;
      }
    },
    finish: (r) => {
      $('thinking').hidden = true;
      if (!r.ok) {
        body.textContent = `No answer: the model did not follow the answer format in ${r.attempts} attempts.`;
        body.classList.add('error');
        return;
      }
      body.textContent = r.answer;
      if (r.thought) {
        const d = el('details');
        d.append(el('summary', 'Show thinking'), el('p', r.thought, 'thought'));
        root.append(d);
      }
      root.append(
        el(
          'div',
          `${r.tokens} tokens · ${r.seconds.toFixed(1)} s${r.attempts > 1 ? ` · ${r.attempts} attempts` : ''}`,
          'meta',
        ),
      );
    },
  };
}

export function initChatView(): void {
  $('gen-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const status = $('gen-status');
    const out = $('output');
    const text = val('prompt').trim();
    status.classList.remove('error');
    $<HTMLButtonElement>('generate').disabled = true;
    const log = $('chat-log');
    try {
      if (!state.hasTokenizer) {
        // No tokenizer: a raw continuation of the BOS token, shown as ids.
        const t0 = performance.now();
        let count = 0;
        const [s] = await engine.generate(
          { maxNewTokens: num('max-new'), temperature: num('temperature'), seed: num('seed') },
          proxy(() => void (status.textContent = `Generating… ${++count} tokens`)),
        );
        out.textContent = s.tokenIds.join(' ');
        out.dataset.tokenIds = s.tokenIds.join(',');
        const secs = ((performance.now() - t0) / 1000).toFixed(2);
        status.textContent = `${s.tokenIds.length} tokens in ${secs} s (${s.finishReason})`;
        return;
      }
      if (!text) throw new Error('Write a message first.');
      log.append(el('div', text, 'msg user'));
      const think = $<HTMLInputElement>('think').checked;
      const req = {
        instruction: text,
        thought: think
          ? {
              template: GENERIC.template,
              separator: GENERIC.separator!,
              thoughtMarker: GENERIC.thoughtMarker,
              native: $<HTMLInputElement>('native-think').checked,
            }
          : undefined,
        maxNewTokens: num('max-new'),
        temperature: num('temperature'),
        seed: num('seed'),
        retries: 2,
      };
      const sides =
        $<HTMLInputElement>('compare').checked && state.adapter
          ? [
              { title: 'base model', base: true },
              { title: state.adapter, base: false },
            ]
          : [{ title: null, base: false }];
      const row = el('div', undefined, sides.length > 1 ? 'compare' : 'single');
      log.append(row);
      let last: ChatReply | null = null;
      for (const side of sides) {
        const card = answerCard(side.title);
        row.append(card.root);
        const r = await engine.chat({ ...req, base: side.base }, proxy(card.update));
        card.finish(r);
        last = r;
      }
      out.textContent = last?.ok ? last.answer : '';
      status.textContent = last ? `${last.tokens} tokens in ${last.seconds.toFixed(2)} s` : '';
      $<HTMLTextAreaElement>('prompt').value = '';
      row.scrollIntoView({ block: 'end' });
    } catch (e) {
      $('thinking').hidden = true;
      fail(status, e);
    } finally {
      $<HTMLButtonElement>('generate').disabled = false;
    }
  });
  $<HTMLTextAreaElement>('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      $<HTMLFormElement>('gen-form').requestSubmit();
    }
  });
}
