// Judges score responses — never thoughts: every judge here receives the instruction and the
// response text only. Point-wise judges return one score per response; pair-wise judges return
// a verdict per ordered pair, turned into scores by Bradley–Terry.

import { TpoError, UsageError } from '../errors';
import { bradleyTerry } from './scores';

export interface JudgeItem {
  instruction: string;
  response: string;
  /** The instruction's own fields from the prompts file (e.g. "answer"), for programmatic judges. */
  meta?: Record<string, unknown>;
}

export type Verdict = 'A' | 'B' | null;

/** Work counted by a judge model run on our engine: tokens it read (prompts) and wrote (replies). */
export interface JudgeStats {
  tokens: number;
}

export interface PointwiseJudge {
  kind: 'pointwise';
  name: string;
  stats?: JudgeStats;
  /** One score per item; null where the judge gave no usable score (e.g. an LLM's reply with no
   *  rating in it): that response takes no part in pairs or means, and the run counts it. */
  score(items: JudgeItem[]): Promise<(number | null)[]>;
}
/** A point-wise judge that scores every response (rules, a reward model). */
export interface ScoringJudge extends PointwiseJudge {
  score(items: JudgeItem[]): Promise<number[]>;
}
export interface PairwiseJudge {
  kind: 'pairwise';
  name: string;
  stats?: JudgeStats;
  compare(items: { instruction: string; a: string; b: string }[]): Promise<Verdict[]>;
}
export type Judge = PointwiseJudge | PairwiseJudge;

export class JudgeError extends TpoError {}

/** Scores for the responses to one instruction: direct for point-wise (null = no score), Bradley–Terry
 *  over all ordered pairs (both orders) for pair-wise. */
export async function scoreGroup(
  judge: Judge,
  instruction: string,
  responses: string[],
  meta?: Record<string, unknown>,
): Promise<(number | null)[]> {
  if (judge.kind === 'pointwise') return judge.score(responses.map((response) => ({ instruction, response, meta })));
  const n = responses.length;
  const pairs: { i: number; j: number }[] = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) pairs.push({ i, j });
  const verdicts = await judge.compare(pairs.map(({ i, j }) => ({ instruction, a: responses[i], b: responses[j] })));
  const wins = Array.from({ length: n }, () => new Array(n).fill(0));
  pairs.forEach(({ i, j }, k) => {
    if (verdicts[k] === 'A') wins[i][j]++;
    else if (verdicts[k] === 'B') wins[j][i]++;
  });
  return bradleyTerry(wins);
}

// ---------------------------------------------------------------- programmatic judges

export type Rule =
  | { type: 'exact'; field?: string; weight?: number; caseSensitive?: boolean }
  | { type: 'numeric'; field?: string; weight?: number; tolerance?: number }
  | { type: 'regex'; pattern: string; flags?: string; weight?: number }
  | { type: 'json'; weight?: number }
  | { type: 'length'; min?: number; max?: number; weight?: number }
  | { type: 'keywords'; include?: string[]; exclude?: string[]; weight?: number };

const lastNumber = (s: string): number | null => {
  const m = s.replace(/,(?=\d{3})/g, '').match(/-?\d+(?:\.\d+)?/g);
  return m ? Number(m[m.length - 1]) : null;
};

function ruleScore(rule: Rule, item: JudgeItem): number {
  const r = item.response;
  switch (rule.type) {
    case 'exact': {
      const want = String(item.meta?.[rule.field ?? 'answer'] ?? '');
      const norm = (s: string) => (rule.caseSensitive ? s : s.toLowerCase()).trim().replace(/[\s.!]+$/, '');
      return norm(r) === norm(want) ? 1 : 0;
    }
    case 'numeric': {
      const want = Number(item.meta?.[rule.field ?? 'answer']);
      const got = lastNumber(r);
      return got !== null && Math.abs(got - want) <= (rule.tolerance ?? 1e-9) ? 1 : 0;
    }
    case 'regex':
      return new RegExp(rule.pattern, rule.flags).test(r) ? 1 : 0;
    case 'json':
      try {
        JSON.parse(r);
        return 1;
      } catch {
        return 0;
      }
    case 'length':
      return (rule.min === undefined || r.length >= rule.min) && (rule.max === undefined || r.length <= rule.max)
        ? 1
        : 0;
    case 'keywords': {
      const low = r.toLowerCase();
      const inc = rule.include ?? [],
        exc = rule.exclude ?? [];
      const hits = inc.filter((k) => low.includes(k.toLowerCase())).length;
      const bad = exc.some((k) => low.includes(k.toLowerCase()));
      return bad ? 0 : inc.length ? hits / inc.length : 1;
    }
  }
}

/** Weighted sum of rule scores: e.g. [{"type":"numeric","weight":1},{"type":"length","max":200,"weight":0.2}]. */
export function rulesJudge(rules: Rule[], name = 'rules'): ScoringJudge {
  if (!Array.isArray(rules) || !rules.length) throw new UsageError('a rules judge needs a non-empty list of rules');
  for (const r of rules) {
    if (!['exact', 'numeric', 'regex', 'json', 'length', 'keywords'].includes((r as Rule).type))
      throw new UsageError(
        `unknown rule type ${JSON.stringify((r as Rule).type)}`,
        'Use exact, numeric, regex, json, length or keywords.',
      );
    if (r.type === 'regex') new RegExp(r.pattern, r.flags); // throws early on a bad pattern
  }
  return {
    kind: 'pointwise',
    name,
    async score(items) {
      return items.map((it) => rules.reduce((a, rule) => a + (rule.weight ?? 1) * ruleScore(rule, it), 0));
    },
  };
}

// ---------------------------------------------------------------- prompts for LLM judges

/** Self-Taught-Evaluator-style pair-wise prompt (system + user). */
export function pairwiseMessages(
  instruction: string,
  a: string,
  b: string,
): { role: 'system' | 'user'; content: string }[] {
  return [
    {
      role: 'system',
      content:
        'Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants ' +
        "to the user question displayed below. Choose the assistant that follows the user's instructions and " +
        "answers the user's question better. Do not allow the length of the responses to influence your evaluation, " +
        'and do not let the order in which the responses were presented influence your decision. Be as objective ' +
        'as possible. After your explanation, output your final verdict by strictly following this format: "[[A]]" ' +
        'if assistant A is better, "[[B]]" if assistant B is better.',
    },
    {
      role: 'user',
      content:
        `[User Question]\n${instruction}\n\n` +
        `[The Start of Assistant A's Answer]\n${a}\n[The End of Assistant A's Answer]\n\n` +
        `[The Start of Assistant B's Answer]\n${b}\n[The End of Assistant B's Answer]`,
    },
  ];
}

/** [[A]] or [[B]]; both or neither → no verdict. */
export function parseVerdict(text: string): Verdict {
  const a = text.includes('[[A]]'),
    b = text.includes('[[B]]');
  return a === b ? null : a ? 'A' : 'B';
}

export function pointwiseMessages(
  instruction: string,
  response: string,
): { role: 'system' | 'user'; content: string }[] {
  return [
    {
      role: 'system',
      content:
        'Please act as an impartial judge and rate the quality of the response to the user question below on ' +
        'a scale of 1 to 10. Do not let its length influence you. After a short explanation, output the rating ' +
        'strictly in this format: "Rating: [[N]]".',
    },
    {
      role: 'user',
      content: `[Question]\n${instruction}\n\n[The Start of the Answer]\n${response}\n[The End of the Answer]`,
    },
  ];
}

export function parseRating(text: string): number | null {
  const m = /\[\[(\d+(?:\.\d+)?)\]\]/.exec(text) ?? /Rating:\s*(\d+(?:\.\d+)?)/i.exec(text);
  if (!m) return null;
  const v = Number(m[1]);
  return v >= 1 && v <= 10 ? v : null;
}

// ---------------------------------------------------------------- HTTP judge (OpenAI-compatible)

export interface HttpJudgeOptions {
  baseUrl: string; // e.g. https://api.openai.com/v1 or http://localhost:8000/v1
  model: string;
  apiKey?: string; // sent as a Bearer header; never written into run records or exports
  mode: 'pointwise' | 'pairwise';
  timeoutMs?: number;
  retries?: number;
  fetch?: typeof fetch;
  maxTokens?: number;
}

/** A judge behind any OpenAI-compatible /chat/completions endpoint. */
export function httpJudge(o: HttpJudgeOptions): Judge {
  const doFetch = o.fetch ?? globalThis.fetch.bind(globalThis);
  const url = o.baseUrl.replace(/\/+$/, '') + '/chat/completions';
  const ask = async (messages: { role: string; content: string }[]): Promise<string> => {
    const retries = o.retries ?? 3;
    let lastErr: Error | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, Math.min(8000, 250 * 2 ** (attempt - 1))));
      const ctrl = new AbortController();
      const timer = setTimeout(() => ctrl.abort(), o.timeoutMs ?? 60_000);
      let res: Response;
      try {
        res = await doFetch(url, {
          method: 'POST',
          signal: ctrl.signal,
          headers: { 'content-type': 'application/json', ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) },
          body: JSON.stringify({ model: o.model, messages, temperature: 0, max_tokens: o.maxTokens ?? 512 }),
        });
      } catch (e) {
        clearTimeout(timer);
        const err = e as Error;
        lastErr =
          err.name === 'AbortError'
            ? new JudgeError(
                `judge ${url} timed out after ${o.timeoutMs ?? 60_000} ms`,
                'Raise the timeout or use a faster endpoint.',
              )
            : new JudgeError(
                `judge ${url} could not be reached (${err.message})`,
                'Check the URL; from a web page the endpoint must allow CORS from this origin.',
              );
        continue;
      }
      clearTimeout(timer);
      if (res.status === 401 || res.status === 403)
        throw new JudgeError(`judge ${url}: HTTP ${res.status} (authentication failed)`, 'Check the API key.');
      if (res.status === 429 || res.status >= 500) {
        lastErr = new JudgeError(`judge ${url}: HTTP ${res.status}`);
        continue;
      }
      if (!res.ok) throw new JudgeError(`judge ${url}: HTTP ${res.status} ${await res.text().catch(() => '')}`.trim());
      const body = (await res.json().catch(() => null)) as { choices?: { message?: { content?: string } }[] } | null;
      const text = body?.choices?.[0]?.message?.content;
      if (typeof text !== 'string') throw new JudgeError(`judge ${url}: the reply has no choices[0].message.content`);
      return text;
    }
    throw lastErr ?? new JudgeError(`judge ${url} failed`);
  };
  const name = `http:${o.model}`;
  if (o.mode === 'pointwise') {
    return {
      kind: 'pointwise',
      name,
      async score(items) {
        const out: (number | null)[] = [];
        for (const it of items) {
          const reply = await ask(pointwiseMessages(it.instruction, it.response));
          const rating = parseRating(reply);
          // No rating in the reply is no score (counted by the run), never the worst score.
          if (rating === null)
            console.warn(`judge ${name}: no rating 1–10 in the reply ${JSON.stringify(reply.slice(0, 120))}`);
          out.push(rating);
        }
        return out;
      },
    };
  }
  return {
    kind: 'pairwise',
    name,
    async compare(items) {
      const out: Verdict[] = [];
      for (const it of items) out.push(parseVerdict(await ask(pairwiseMessages(it.instruction, it.a, it.b))));
      return out;
    },
  };
}
