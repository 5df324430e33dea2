// Training rows in TRL's formats → token sequences with a completion mask.
// Preference pairs (DPO): {"prompt", "chosen", "rejected"}, plain strings or conversational
// message lists; SFT: {"prompt", "completion"} or {"messages"}. For models without a tokenizer,
// rows may carry ids directly: {"prompt_ids", "chosen_ids", "rejected_ids"} / {"prompt_ids", "completion_ids"}.
// Completion tokens follow TRL: conversational = template(prompt + answer) minus
// template(prompt, add_generation_prompt); plain = tokens(answer) + EOS after tokens(prompt).

import { UsageError } from '../errors';
import type { ChatMessage, Tokenizer } from '../model/tokenizer';

export type Content = string | ChatMessage[];
export interface PairRow {
  prompt: Content;
  chosen: Content;
  rejected: Content;
}
export interface SftRow {
  prompt?: Content;
  completion?: Content;
  messages?: ChatMessage[];
}

/** One training sequence: ids[0 .. completionStart) is the prompt, the rest is scored — or, for a
 *  packed row, the tokens inside `scored` ([start, end) spans, the completions) are, and
 *  `starts` holds where each packed conversation begins (attention never crosses them). */
export interface Seq {
  ids: number[];
  completionStart: number;
  scored?: [number, number][];
  starts?: number[];
}

/** For each position of a sequence, the position at which its conversation begins. */
export function attentionStarts(s: Seq): number[] {
  const out = new Array<number>(s.ids.length).fill(0);
  const st = s.starts ?? [0];
  st.forEach((a, i) => out.fill(a, a, st[i + 1] ?? s.ids.length));
  return out;
}

/** The positions p whose next token ids[p + 1] is scored. */
export function scoredPositions(s: Seq): number[] {
  const spans = s.scored ?? [[s.completionStart, s.ids.length]];
  const out: number[] = [];
  for (const [a, b] of spans) for (let p = Math.max(0, a - 1); p < b - 1; p++) out.push(p);
  return out;
}

/**
 * Packing (TRL's SFT `packing`, best fit): puts each conversation, in order, into the open row of at
 * most `rowLength` tokens that it fills best (a new row when none has room), each keeping its
 * completion span scored, so a padded batch wastes almost no compute on padding. Rows come out in
 * the order they were opened. Like TRL's padding-free packing, attention stays inside each
 * conversation (`starts`): a packed row computes what each conversation alone would.
 */
export function packSequences(seqs: Seq[], rowLength: number): Seq[] {
  const rows: Seq[] = [];
  for (const s of seqs) {
    if (s.ids.length > rowLength)
      throw new UsageError(`a sequence of ${s.ids.length} tokens does not fit a packed row of ${rowLength}`);
    let best: Seq | null = null;
    for (const r of rows) {
      const left = rowLength - r.ids.length;
      if (left >= s.ids.length && (!best || left < rowLength - best.ids.length)) best = r;
    }
    if (!best) rows.push((best = { ids: [], completionStart: 0, scored: [], starts: [] }));
    const at = best.ids.length;
    best.starts!.push(at);
    best.ids.push(...s.ids);
    for (const [a, b] of s.scored ?? [[s.completionStart, s.ids.length]]) best.scored!.push([at + a, at + b]);
  }
  return rows;
}
export interface TokenizedPair {
  chosen: Seq;
  rejected: Seq;
}

export function parseJsonl<T>(text: string, what: string): T[] {
  const rows: T[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      rows.push(JSON.parse(line));
    } catch (e) {
      throw new UsageError(`${what}, line ${i + 1}: not valid JSON (${(e as Error).message})`);
    }
  });
  if (!rows.length) throw new UsageError(`${what} holds no rows`);
  return rows;
}

const isMessages = (c: unknown): c is ChatMessage[] =>
  Array.isArray(c) && c.every((m) => m && typeof m.role === 'string' && typeof m.content === 'string');

function ids(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || v.some((x) => !Number.isInteger(x) || x < 0))
    throw new UsageError(`${what} must be a list of token ids`);
  return v as number[];
}

/** prompt + completion → one sequence, truncated to maxLength (prompt kept from its end). */
function join(prompt: number[], completion: number[], maxLength: number, what: string): Seq {
  if (!completion.length) throw new UsageError(`${what}: the completion is empty`);
  let p = prompt;
  if (p.length > maxLength - 1) p = p.slice(p.length - (maxLength - 1));
  const c = completion.slice(0, maxLength - p.length);
  return { ids: [...p, ...c], completionStart: p.length };
}

function completionIds(
  tok: Tokenizer | null,
  prompt: Content,
  answer: Content,
  eos: number | undefined,
  what: string,
): { p: number[]; c: number[] } {
  if (!tok)
    throw new UsageError(
      `${what}: text rows need a tokenizer`,
      'Use a model with tokenizer.json, or rows with prompt_ids / chosen_ids / rejected_ids.',
    );
  if (isMessages(prompt) || isMessages(answer)) {
    if (!isMessages(prompt) || !isMessages(answer))
      throw new UsageError(`${what}: prompt and answer must both be message lists or both strings`);
    // The prompt is tokenised exactly as generation sees it (with the generation prompt), and the
    // completion is the rest of the rendered conversation tokenised on its own. Tokenising the whole
    // conversation and cutting at the first differing id would let a BPE merge straddle the boundary
    // ("assistant\nHere" as one token): training would then never see the prompt that inference ends with.
    // A native thought (an assistant turn holding its own </think>) is rendered as it was sampled:
    // with enable_thinking on; every other conversation with it off, as its prompt was sampled.
    const o = { enableThinking: tok.thinkingToggle && answer.some((m) => m.content.includes('</think>')) };
    const p = tok.applyChatTemplate(prompt, true, o);
    const promptText = tok.chatTemplateText(prompt, true, o);
    const fullText = tok.chatTemplateText([...prompt, ...answer], false, o);
    if (fullText.startsWith(promptText)) return { p, c: tok.encode(fullText.slice(promptText.length), false) };
    // A template that renders the prompt differently once the answer follows: cut the ids where they differ.
    const full = tok.applyChatTemplate([...prompt, ...answer], false, o);
    let k = 0;
    while (k < p.length && k < full.length && p[k] === full[k]) k++;
    return { p: full.slice(0, k), c: full.slice(k) };
  }
  if (typeof prompt !== 'string' || typeof answer !== 'string')
    throw new UsageError(`${what}: prompt and answer must be strings or message lists`);
  const c = tok.encode(answer, false);
  if (eos !== undefined) c.push(eos);
  return { p: tok.encode(prompt, true), c };
}

/** TRL's DPOConfig truncation: the prompt keeps its last `maxPromptLength` tokens, a completion
 *  its first `maxCompletionLength`, and then prompt + completion longer than `maxLength` keeps
 *  its end (`keep_end`, TRL's default: the prompt's start goes first) or its start (`keep_start`:
 *  the completion's end goes). null: no limit. */
export interface Truncation {
  maxLength: number;
  maxPromptLength: number | null;
  maxCompletionLength: number | null;
  mode: 'keep_end' | 'keep_start';
}

/** TRL's defaults (max_length 1024, max_prompt_length 512, keep_end), at a given max length. */
export const truncation = (maxLength: number, o: Partial<Truncation> = {}): Truncation => ({
  maxPromptLength: 512,
  maxCompletionLength: null,
  mode: 'keep_end',
  ...o,
  maxLength,
});

/** One side of a pair, truncated as TRL's DPO does (Truncation). */
export function truncatePair(prompt: number[], completion: number[], t: Truncation, what: string): Seq {
  if (!completion.length) throw new UsageError(`${what}: the completion is empty`);
  const p = t.maxPromptLength === null ? prompt : prompt.slice(Math.max(0, prompt.length - t.maxPromptLength));
  const c = t.maxCompletionLength === null ? completion : completion.slice(0, t.maxCompletionLength);
  let ids = [...p, ...c];
  let start = p.length;
  if (ids.length > t.maxLength) {
    const drop = ids.length - t.maxLength;
    if (t.mode === 'keep_start') ids = ids.slice(0, t.maxLength);
    else ids = ids.slice(drop);
    start = t.mode === 'keep_start' ? Math.min(start, t.maxLength) : Math.max(0, start - drop);
  }
  if (ids.length - start < 1)
    throw new UsageError(
      `${what}: no completion token is left within --max-length ${t.maxLength}`,
      'Raise --max-length, lower --max-prompt-length, or use --truncation-mode keep_end.',
    );
  return { ids, completionStart: start };
}

export function tokenizePairs(
  rows: Record<string, unknown>[],
  tok: Tokenizer | null,
  eos: number | undefined,
  limits: number | Truncation,
): TokenizedPair[] {
  const t = typeof limits === 'number' ? truncation(limits) : limits;
  return rows.map((row, i) => {
    const what = `pair ${i + 1}`;
    if ('prompt_ids' in row) {
      const p = ids(row.prompt_ids, `${what}: prompt_ids`);
      return {
        chosen: truncatePair(p, ids(row.chosen_ids, `${what}: chosen_ids`), t, what),
        rejected: truncatePair(p, ids(row.rejected_ids, `${what}: rejected_ids`), t, what),
      };
    }
    if (!('prompt' in row && 'chosen' in row && 'rejected' in row))
      throw new UsageError(`${what}: needs "prompt", "chosen" and "rejected"`);
    const c = completionIds(tok, row.prompt as Content, row.chosen as Content, eos, what);
    const r = completionIds(tok, row.prompt as Content, row.rejected as Content, eos, what);
    return { chosen: truncatePair(c.p, c.c, t, what), rejected: truncatePair(r.p, r.c, t, what) };
  });
}

export function tokenizeSft(
  rows: Record<string, unknown>[],
  tok: Tokenizer | null,
  eos: number | undefined,
  maxLength: number,
): Seq[] {
  return rows.map((row, i) => {
    const what = `row ${i + 1}`;
    if ('prompt_ids' in row)
      return join(
        ids(row.prompt_ids, `${what}: prompt_ids`),
        ids(row.completion_ids, `${what}: completion_ids`),
        maxLength,
        what,
      );
    if (isMessages(row.messages)) {
      const m = row.messages;
      const last = m.length - 1;
      if (last < 1 || m[last].role !== 'assistant')
        throw new UsageError(`${what}: "messages" must end with an assistant turn`);
      const c = completionIds(tok, m.slice(0, last), [m[last]], eos, what);
      return join(c.p, c.c, maxLength, what);
    }
    if (!('prompt' in row && 'completion' in row))
      throw new UsageError(`${what}: needs "prompt" and "completion", or "messages"`);
    const c = completionIds(tok, row.prompt as Content, row.completion as Content, eos, what);
    return join(c.p, c.c, maxLength, what);
  });
}

/**
 * Reward-model rows (TRL's RewardTrainer): {"chosen","rejected"} whole conversations (message
 * lists through the chat template, or plain texts), optionally with a "prompt" before each side
 * (a text prompt and text answers become [user: prompt, assistant: answer], the conversation the
 * reward-model judge scores), and an optional "margin"; or ids {"chosen_ids","rejected_ids"}
 * (and "prompt_ids"). Pairs with a side over maxLength tokens are dropped, as TRL filters them;
 * `dropped` counts them.
 */
export function tokenizeRewardPairs(
  rows: Record<string, unknown>[],
  tok: Tokenizer | null,
  maxLength: number,
): { pairs: { chosen: number[]; rejected: number[]; margin?: number }[]; dropped: number } {
  const pairs: { chosen: number[]; rejected: number[]; margin?: number }[] = [];
  rows.forEach((row, i) => {
    const what = `pair ${i + 1}`;
    const margin = row.margin === undefined ? undefined : Number(row.margin);
    if (margin !== undefined && !Number.isFinite(margin)) throw new UsageError(`${what}: "margin" must be a number`);
    let sides: [number[], number[]];
    if ('chosen_ids' in row) {
      const p = row.prompt_ids === undefined ? [] : ids(row.prompt_ids, `${what}: prompt_ids`);
      sides = [
        [...p, ...ids(row.chosen_ids, `${what}: chosen_ids`)],
        [...p, ...ids(row.rejected_ids, `${what}: rejected_ids`)],
      ];
    } else {
      if (!('chosen' in row && 'rejected' in row)) throw new UsageError(`${what}: needs "chosen" and "rejected"`);
      if (!tok)
        throw new UsageError(`${what}: text rows need a tokenizer`, 'Give ids rows: {"chosen_ids","rejected_ids"}.');
      const side = (c: Content) => rewardSequence(tok, row.prompt as Content | undefined, c, what);
      sides = [side(row.chosen as Content), side(row.rejected as Content)];
    }
    if (!sides[0].length || !sides[1].length) throw new UsageError(`${what}: a side is empty`);
    if (Math.max(sides[0].length, sides[1].length) > maxLength) return;
    pairs.push({ chosen: sides[0], rejected: sides[1], ...(margin === undefined ? {} : { margin }) });
  });
  return { pairs, dropped: rows.length - pairs.length };
}

/** One side of a reward pair as the reward-model judge scores it. */
function rewardSequence(tok: Tokenizer, prompt: Content | undefined, side: Content, what: string): number[] {
  const asMessages = (c: Content, role: 'user' | 'assistant'): ChatMessage[] =>
    typeof c === 'string' ? [{ role, content: c }] : c;
  if (prompt === undefined && typeof side === 'string') return tok.encode(side);
  const messages = [...(prompt === undefined ? [] : asMessages(prompt, 'user')), ...asMessages(side, 'assistant')];
  if (!tok.hasChatTemplate)
    throw new UsageError(`${what}: conversational rows need a chat template`, 'Give plain "chosen"/"rejected" texts.');
  return tok.applyChatTemplate(messages, false);
}
