// The method's pieces in isolation: prompts and parsing, length control, pair selection,
// Bradley–Terry, win rates, and every judge (rules, verdict parsing, an HTTP judge on a local
// OpenAI-compatible server).

import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { customPrompt, DIRECT, GENERIC, parseOutput, renderPrompt, SPECIFIC } from '../src/tpo/prompts';
import {
  bootstrapCI,
  bradleyTerry,
  lengthControlled,
  lengthControlledWinRate,
  selectPair,
  winRate,
  zscores,
} from '../src/tpo/scores';
import {
  httpJudge,
  JudgeError,
  parseRating,
  parseVerdict,
  rulesJudge,
  scoreGroup,
  type PairwiseJudge,
  type PointwiseJudge,
  type Verdict,
} from '../src/tpo/judges';
import { judgeGames, summarizeGames } from '../src/tpo/eval';
import { checkPool, instructionsPerBatch, parseInstructions, validationSlice, type TpoOptions } from '../src/tpo/loop';
import { selectCheckpoint, winShares } from '../src/tpo/select';

describe('thought prompts and parsing', () => {
  it('the paper prompts verbatim, with the instruction in place', () => {
    expect(renderPrompt(GENERIC, 'Name a color.')).toBe(
      'Respond to the following user query in a comprehensive and detailed way. You can write down your thought process before responding. Write your thoughts after "Here is my thought process:" and write your response after "Here is my response:".\n\nUser query: Name a color.',
    );
    expect(renderPrompt(SPECIFIC, 'X')).toMatch(
      /^Respond to the following user query in a comprehensive and detailed way\. But first write down your internal thoughts\. This must include your draft response and its evaluation\. After this, write your final response after "<R>"\.\n\nUser query: X$/,
    );
    expect(renderPrompt(DIRECT, 'Hi')).toBe('Hi');
  });
  it('splits thought and response; no separator or an empty response is a parse failure', () => {
    expect(parseOutput(GENERIC, 'Here is my thought process: think.\nHere is my response: Blue.')).toEqual({
      ok: true,
      thought: 'think.',
      response: 'Blue.',
    });
    expect(parseOutput(SPECIFIC, 'draft... eval...\n<R> Final.')).toEqual({
      ok: true,
      thought: 'draft... eval...',
      response: 'Final.',
    });
    expect(parseOutput(GENERIC, 'Here is my thought process: no answer')).toEqual({
      ok: false,
      raw: 'Here is my thought process: no answer',
    });
    expect(parseOutput(GENERIC, 'Here is my response:   ')).toMatchObject({ ok: false });
    // the last separator wins: a thought may mention the separator
    expect(parseOutput(SPECIFIC, 'I will write <R> later. <R> Done')).toEqual({
      ok: true,
      thought: 'I will write <R> later.',
      response: 'Done',
    });
    expect(parseOutput(DIRECT, ' plain ')).toEqual({ ok: true, thought: '', response: 'plain' });
    expect(() => customPrompt('no placeholder', 'R:')).toThrow(/\{instruction\}/);
    expect(parseOutput(customPrompt('{instruction}', 'R:'), 'T: 1+2 R: 3')).toEqual({
      ok: true,
      thought: 'T: 1+2',
      response: '3',
    });
  });
  it('prompts files: instruction, id and judge fields', () => {
    expect(
      parseInstructions([
        { instruction: 'a', answer: 3 },
        { prompt: 'b', id: 'x' },
      ]),
    ).toEqual([
      { id: '0', instruction: 'a', meta: { answer: 3 } },
      { id: 'x', instruction: 'b', meta: {} },
    ]);
    expect(() => parseInstructions([{ text: 'a' }])).toThrow(/needs an "instruction"/);
    expect(() =>
      parseInstructions([
        { instruction: 'a', id: 1 },
        { instruction: 'b', id: 1 },
      ]),
    ).toThrow(/duplicate id/);
  });
});

describe('scores', () => {
  it('z-scores and length control: s = z(score) − ρ·z(length); a constant gives 0', () => {
    expect(zscores([5, 5, 5])).toEqual([0, 0, 0]);
    const z = zscores([1, 2, 3]);
    expect(z[0]).toBeCloseTo(-Math.sqrt(1.5), 10);
    const s = lengthControlled([1, 2, 3], [10, 10, 40], 0.5);
    const zl = zscores([10, 10, 40]);
    s.forEach((v, i) => expect(v).toBeCloseTo(z[i] - 0.5 * zl[i], 12));
  });
  it('pair selection: argmax/argmin, length penalty, failures rejected, ties skipped', () => {
    expect(
      selectPair(
        [
          { parsed: true, score: 1, length: 5 },
          { parsed: true, score: 3, length: 5 },
          { parsed: true, score: 2, length: 5 },
        ],
        0,
      ),
    ).toEqual({ chosen: 1, rejected: 0 });
    // ρ large: the long high-score answer loses to the short one
    expect(
      selectPair(
        [
          { parsed: true, score: 2, length: 100 },
          { parsed: true, score: 1.9, length: 5 },
          { parsed: true, score: 1, length: 50 },
        ],
        2,
      ),
    ).toMatchObject({ chosen: 1 });
    expect(
      selectPair(
        [
          { parsed: false, length: 0 },
          { parsed: true, score: 1, length: 3 },
          { parsed: true, score: 1, length: 3 },
        ],
        0,
      ),
    ).toEqual({ chosen: 1, rejected: 0 });
    expect(
      selectPair(
        [
          { parsed: true, score: 1, length: 3 },
          { parsed: true, score: 1, length: 3 },
        ],
        0,
      ),
    ).toEqual({ skipped: 'all-tied' });
    expect(
      selectPair(
        [
          { parsed: false, length: 0 },
          { parsed: false, length: 0 },
        ],
        0,
      ),
    ).toEqual({ skipped: 'too-few' });
    // Equal judge scores are skipped whatever ρ: length alone never makes a pair (README).
    const tied = [
      { parsed: true, score: 0.2, length: 3 },
      { parsed: true, score: 0.2, length: 30 },
      { parsed: true, score: 0.2, length: 9 },
    ];
    for (const rho of [0, 0.1, 1, 5]) expect(selectPair(tied, rho)).toEqual({ skipped: 'all-tied' });
    // A lone scored output with nothing failed beside it: too few, not tied.
    expect(selectPair([{ parsed: true, score: 1, length: 3 }], 0.1)).toEqual({ skipped: 'too-few' });
    // Outputs the judge could not score take no part: here none was scored.
    expect(
      selectPair(
        [
          { parsed: true, length: 3 },
          { parsed: true, length: 4 },
        ],
        0.1,
      ),
    ).toEqual({ skipped: 'too-few' });
    // …and here the two scored ones decide.
    expect(
      selectPair(
        [
          { parsed: true, score: 0, length: 3 },
          { parsed: true, length: 4 },
          { parsed: true, score: 1, length: 5 },
        ],
        0.1,
      ),
    ).toEqual({ chosen: 2, rejected: 0 });
    // Different scores that the length term cancels exactly: no side is better.
    expect(
      selectPair(
        [
          { parsed: true, score: 1, length: 10 },
          { parsed: true, score: 0, length: 0 },
        ],
        1,
      ),
    ).toEqual({ skipped: 'all-tied' });
  });
  it('Bradley–Terry recovers the order and the log-odds of a consistent tournament', () => {
    // p(0 beats 1) = 0.75 → ε0 − ε1 = ln 3
    const e = bradleyTerry(
      [
        [0, 30, 9],
        [10, 0, 30],
        [1, 10, 0],
      ],
      20000,
      0,
    );
    expect(e[0]).toBeGreaterThan(e[1]);
    expect(e[1]).toBeGreaterThan(e[2]);
    expect(e.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 8);
    const pair = bradleyTerry(
      [
        [0, 30],
        [10, 0],
      ],
      20000,
      0,
    );
    expect(pair[0] - pair[1]).toBeCloseTo(Math.log(3), 3);
    expect(
      bradleyTerry([
        [0, 0],
        [0, 0],
      ]),
    ).toEqual([0, 0]);
  });
  it('win rate with ties as ½, bootstrap interval, and the length-controlled win rate', () => {
    expect(winRate([1, 0, 0.5, 1])).toBe(0.625);
    const [lo, hi] = bootstrapCI([1, 0, 1, 1, 0.5, 1, 0, 1, 1, 1], 2000, 1);
    expect(lo).toBeLessThan(0.75);
    expect(hi).toBeGreaterThan(0.75);
    expect(hi).toBeLessThanOrEqual(1);
    // A judge that only likes length (80% for the longer answer) and a policy that is longer 3
    // times in 4: the raw win rate is 0.65, the length-controlled one ½.
    const lp: number[] = [],
      lb: number[] = [],
      out: (0 | 1)[] = [];
    for (let i = 0; i < 200; i++) {
      const longer = i % 4 !== 0;
      lp.push(longer ? 120 + (i % 7) : 80 - (i % 7));
      lb.push(100);
      out.push(longer ? (i % 5 !== 0 ? 1 : 0) : i % 5 === 0 ? 1 : 0);
    }
    expect(winRate(out)).toBeCloseTo(0.65, 1);
    expect(Math.abs(lengthControlledWinRate(out, lp, lb) - 0.5)).toBeLessThan(0.06);
  });
  it('the length-adjusted win rate is σ(θ) of the logistic fit, by hand on two length groups', () => {
    // With two length differences the maximum-likelihood fit passes through both groups' win rates:
    // θ + φ·x₁ = logit p₁ and θ + φ·x₂ = logit p₂, x = tanh(Δlen / sd(Δlen)), Δlen not centred.
    const group = (n: number, wins: number, d: number) => ({
      out: Array.from({ length: n }, (_, i) => (i < wins ? 1 : 0)),
      lp: new Array(n).fill(100 + d),
      lb: new Array(n).fill(100),
    });
    const fit = (a: ReturnType<typeof group>, b: ReturnType<typeof group>) =>
      lengthControlledWinRate([...a.out, ...b.out], [...a.lp, ...b.lp], [...a.lb, ...b.lb]);
    const logit = (p: number) => Math.log(p / (1 - p));
    // Symmetric lengths (±10, sd 10): θ = (logit 0.9 + logit 0.5) / 2 = ln 3 → σ(θ) = 3/4; raw 0.7.
    expect(fit(group(10, 9, 10), group(10, 5, -10))).toBeCloseTo(0.75, 3);
    // Uneven: 20 answers 10 characters longer winning 15, 5 answers 30 shorter winning 1 (Δ mean 2, sd 16).
    const x1 = Math.tanh(10 / 16),
      x2 = Math.tanh(-30 / 16);
    const theta = (x2 * logit(0.75) - x1 * logit(0.2)) / (x2 - x1);
    expect(fit(group(20, 15, 10), group(5, 1, -30))).toBeCloseTo(1 / (1 + Math.exp(-theta)), 3);
    // The policy won mostly when it was longer: adjusting for length lowers its raw 16/25.
    expect(1 / (1 + Math.exp(-theta))).toBeLessThan(0.64 - 0.05);
  });
  it('evaluation games: each order of a pair-wise judge is a game; ties and no verdict ½; a missing answer loses', async () => {
    const item = { id: '0', instruction: 'q', meta: {} };
    // A pair-wise judge scripted per policy answer: the verdicts for (policy as A, policy as B).
    const script: Record<string, [Verdict, Verdict]> = {
      both: ['A', 'B'], // policy wins both orders
      half: ['A', null], // one win, one missing verdict: 1 + ½, not a full win
      biased: ['A', 'A'], // always the first answer: one win, one loss
      lost: ['B', 'A'],
    };
    const judge: PairwiseJudge = {
      kind: 'pairwise',
      name: 'scripted',
      async compare(items) {
        return items.map((it, k) => script[it.a === 'base' ? it.b : it.a][k]);
      },
    };
    const games = await Promise.all(Object.keys(script).map((p) => judgeGames(judge, item, p, 'base')));
    expect(games).toEqual([
      [1, 1],
      [1, 0.5],
      [1, 0],
      [0, 0],
    ]);
    expect(await judgeGames(judge, item, '', 'base')).toEqual([0, 0]);
    expect(await judgeGames(judge, item, 'both', '')).toEqual([1, 1]);
    expect(await judgeGames(judge, item, '', '')).toEqual([0.5, 0.5]);
    // Win rate over the 8 games: (2 + 1.5 + 1 + 0) / 8.
    const r = summarizeGames(games, [1, 1, 1, 1], [1, 1, 1, 1], 0);
    expect(r.win_rate).toBe(4.5 / 8);
    expect(r.win_rate_ci95[0]).toBeLessThanOrEqual(4.5 / 8);
    expect(r.win_rate_ci95[1]).toBeGreaterThanOrEqual(4.5 / 8);
    // The bootstrap resamples instructions, whose means here are 1, ¾, ½, 0: no interval reaches past them.
    expect(r.win_rate_ci95[0]).toBeGreaterThanOrEqual(0);
    expect(r.win_rate_ci95[1]).toBeLessThanOrEqual(1);
    // A point-wise judge: one game per instruction; no score on either side is ½.
    const pointwise: PointwiseJudge = {
      kind: 'pointwise',
      name: 'scripted',
      async score(items) {
        return items.map((it) => (it.response === 'unrated' ? null : it.response.length));
      },
    };
    expect(await judgeGames(pointwise, item, 'longer', 'base')).toEqual([1]);
    expect(await judgeGames(pointwise, item, 'bas', 'base')).toEqual([0]);
    expect(await judgeGames(pointwise, item, 'unrated', 'base')).toEqual([0.5]);
    expect(await judgeGames(pointwise, item, 'four', 'base')).toEqual([0.5]);
  });
});

describe('checkpoint selection', () => {
  it('win shares: per instruction, wins over the other candidates (ties ½, a parse failure loses to any parsed output)', () => {
    // 3 candidates × 2 instructions. Instruction 0: 1 > 0.5 = 0.5; instruction 1: null < 0 < 2.
    const s = winShares([
      [1, null],
      [0.5, 0],
      [0.5, 2],
    ]);
    expect(s[0]).toBeCloseTo((2 / 2 + 0 / 2) / 2, 12);
    expect(s[1]).toBeCloseTo((0.5 / 2 + 1 / 2) / 2, 12);
    expect(s[2]).toBeCloseTo((0.5 / 2 + 2 / 2) / 2, 12);
    expect(winShares([[null], [null]])).toEqual([0.5, 0.5]); // two failures tie
    expect(winShares([[3, 1]])).toEqual([0.5]); // one candidate: nothing to compare
  });
  const items = parseInstructions([
    { instruction: 'What is 2+2?', answer: 4 },
    { instruction: 'What is 3+3?', answer: 6 },
  ]);
  it('keeps the best epoch on the validation items; the earliest on ties; M_t (epoch 0) when nothing beats it', async () => {
    const judge = rulesJudge([{ type: 'numeric' }]);
    const pick = (responses: (string | null)[][]) => selectCheckpoint(judge, items, responses);
    const r = await pick([
      ['5', '6'],
      ['4', null],
      ['4', '6'],
      ['4', '6'],
    ]);
    expect(r.chosen_epoch).toBe(2); // 2 and 3 both right twice; the earlier kept
    expect(r.candidates.map((c) => c.parse_failure_rate)).toEqual([0, 0.5, 0, 0]);
    expect(r.candidates.map((c) => c.mean_score)).toEqual([0.5, 1, 1, 1]); // of parsed responses
    expect(r.candidates.map((c) => c.win_share)).toEqual(
      [1 / 3, 1 / 3, 2 / 3, 2 / 3].map((x) => expect.closeTo(x, 12)),
    );
    expect(
      (
        await pick([
          ['4', '6'],
          ['4', '7'],
          [null, null],
        ])
      ).chosen_epoch,
    ).toBe(0); // the update did not help
    expect(
      (
        await pick([
          ['x', 'y'],
          ['x', 'y'],
        ])
      ).chosen_epoch,
    ).toBe(0);
  });
  it('with a pair-wise judge the candidates are compared within each instruction (identical responses judged once)', async () => {
    const asked: [string, string][] = [];
    const judge: PairwiseJudge = {
      kind: 'pairwise',
      name: 'longer wins',
      compare: async (ps) =>
        ps.map((p) => {
          asked.push([p.a, p.b]);
          return p.a.length > p.b.length ? 'A' : p.a.length < p.b.length ? 'B' : null;
        }),
    };
    const r = await selectCheckpoint(judge, items, [
      ['ab', 'a'],
      ['ab', null],
      ['abcd', 'abc'],
    ]);
    expect(r.chosen_epoch).toBe(2);
    expect(r.candidates.every((c) => c.mean_score === null)).toBe(true);
    // instruction 0: distinct 'ab', 'abcd' (both orders); instruction 1: 'a', 'abc' (both orders)
    expect(asked.sort()).toEqual([
      ['a', 'abc'],
      ['ab', 'abcd'],
      ['abc', 'a'],
      ['abcd', 'ab'],
    ]);
  });
  it('a sampling batch holds whole instructions: ⌊batch / K⌋ of them, at least one, never more than the slots', () => {
    expect(instructionsPerBatch(64, { samples: 8 })).toBe(8);
    expect(instructionsPerBatch(64, { samples: 3, sampleBatch: 8 })).toBe(2);
    expect(instructionsPerBatch(64, { samples: 8, sampleBatch: 8 })).toBe(1);
    expect(instructionsPerBatch(16, { samples: 4, sampleBatch: 100 })).toBe(4); // the slots bound it
    expect(instructionsPerBatch(4, { samples: 8 })).toBe(1); // K larger than the batch: one instruction at a time
  });
  it("validation instructions: fresh each iteration, from the pool's end, never in a training slice; the pool must hold them all", () => {
    const pool = parseInstructions(Array.from({ length: 21 }, (_, i) => ({ id: `p${i}`, instruction: `q${i}` }))); // (4 + 3) × 3
    const o = { perIteration: 4, validation: 3 } as TpoOptions;
    const ids = (xs: { id: string }[]) => xs.map((x) => x.id);
    expect(ids(validationSlice(pool, o, 0))).toEqual(['p18', 'p19', 'p20']);
    expect(ids(validationSlice(pool, o, 1))).toEqual(['p15', 'p16', 'p17']);
    expect(ids(validationSlice(pool, o, 2))).toEqual(['p12', 'p13', 'p14']);
    const training = [0, 1, 2].flatMap((it) => ids(pool.slice(it * 4, (it + 1) * 4)));
    expect(training.filter((id) => [0, 1, 2].some((it) => ids(validationSlice(pool, o, it)).includes(id)))).toEqual([]);
    expect(validationSlice(pool, { ...o, validation: 0 }, 1)).toEqual([]);
    expect(() => checkPool(21, o, 3)).not.toThrow();
    expect(() => checkPool(20, o, 3)).toThrow(
      /3 iterations of 4 fresh instructions and 3 fresh validation instructions need 21; the pool has 20/,
    );
    expect(() => checkPool(12, { ...o, validation: 0 }, 3)).not.toThrow();
  });
});

describe('judges', () => {
  it('rules: numeric, exact, regex, json, length, keywords, weighted', async () => {
    const j = rulesJudge([
      { type: 'numeric', weight: 2 },
      { type: 'length', max: 10, weight: 0.5 },
      { type: 'keywords', include: ['sum'], weight: 1 },
    ]);
    const s = await j.score([
      { instruction: 'q', response: 'the sum is 7', meta: { answer: 7 } },
      { instruction: 'q', response: '7', meta: { answer: 7 } },
      { instruction: 'q', response: 'sum: 6', meta: { answer: 7 } },
    ]);
    expect(s).toEqual([3, 2.5, 1.5]);
    const k = rulesJudge([{ type: 'exact' }, { type: 'regex', pattern: '^\\d+$' }, { type: 'json' }]);
    expect(
      await k.score([
        { instruction: '', response: '42', meta: { answer: '42' } },
        { instruction: '', response: '{"a":1}', meta: { answer: 'x' } },
      ]),
    ).toEqual([3, 1]);
    expect(() => rulesJudge([{ type: 'regex', pattern: '(' }])).toThrow();
    expect(() => rulesJudge([{ type: 'vibes' } as never])).toThrow(/unknown rule type/);
  });
  it('verdicts and ratings: both or neither marker = no verdict', () => {
    expect(parseVerdict('... so [[A]]')).toBe('A');
    expect(parseVerdict('[[B]]')).toBe('B');
    expect(parseVerdict('[[A]] or [[B]]')).toBeNull();
    expect(parseVerdict('tie')).toBeNull();
    expect(parseRating('Rating: [[7]]')).toBe(7);
    expect(parseRating('Rating: 11')).toBeNull();
  });
  it('a pair-wise judge is asked every ordered pair, both orders; scores by Bradley–Terry', async () => {
    const asked: string[] = [];
    const judge: PairwiseJudge = {
      kind: 'pairwise',
      name: 'len',
      async compare(items) {
        return items.map((it) => {
          asked.push(`${it.a}|${it.b}`);
          return it.a.length > it.b.length ? 'A' : 'B';
        });
      },
    };
    const s = (await scoreGroup(judge, 'q', ['aa', 'a', 'aaa'])) as number[];
    expect(asked.sort()).toEqual(['a|aa', 'a|aaa', 'aa|a', 'aa|aaa', 'aaa|a', 'aaa|aa'].sort());
    expect(s[2]).toBeGreaterThan(s[0]);
    expect(s[0]).toBeGreaterThan(s[1]);
  });
  it('HTTP judge: OpenAI-compatible server, retries a 500, fails clearly on auth, times out', async () => {
    let calls = 0;
    const bodies: { messages: { content: string }[]; model: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        calls++;
        if (req.headers.authorization !== 'Bearer k') {
          res.statusCode = 401;
          return res.end('{}');
        }
        const b = JSON.parse(body);
        bodies.push(b);
        if (calls === 1) {
          res.statusCode = 500;
          return res.end('busy');
        }
        if (b.messages[1].content.includes('SLOW')) return; // never answers
        const text = b.messages[0].content.includes('[[A]]')
          ? b.messages[1].content.indexOf('long answer') < b.messages[1].content.indexOf('short')
            ? 'A is better [[A]]'
            : '[[B]]'
          : b.messages[1].content.includes('NORATING')
            ? 'Both are fine; I cannot rate this.'
            : 'Rating: [[8]]';
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: text } }] }));
      });
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
    try {
      const pw = httpJudge({ baseUrl: url, model: 'm', apiKey: 'k', mode: 'pairwise', retries: 2 });
      expect(
        await (pw as PairwiseJudge).compare([
          { instruction: 'q', a: 'long answer', b: 'short' },
          { instruction: 'q', a: 'short', b: 'long answer' },
        ]),
      ).toEqual(['A', 'B']);
      expect(calls).toBe(3); // the 500 was retried
      expect(bodies[0].model).toBe('m');
      const pt = httpJudge({ baseUrl: url, model: 'm', apiKey: 'k', mode: 'pointwise' });
      expect(await scoreGroup(pt, 'q', ['x'])).toEqual([8]);
      // A reply with no rating is no score (null), not the worst score.
      expect(await scoreGroup(pt, 'q', ['x', 'NORATING'])).toEqual([8, null]);
      const bad = httpJudge({ baseUrl: url, model: 'm', apiKey: 'wrong', mode: 'pointwise' });
      await expect(scoreGroup(bad, 'q', ['x'])).rejects.toThrow(/authentication failed[\s\S]*API key/);
      const slow = httpJudge({ baseUrl: url, model: 'm', apiKey: 'k', mode: 'pointwise', timeoutMs: 200, retries: 0 });
      await expect(scoreGroup(slow, 'SLOW', ['SLOW'])).rejects.toThrow(JudgeError);
      const nowhere = httpJudge({ baseUrl: 'http://127.0.0.1:9/v1', model: 'm', mode: 'pointwise', retries: 0 });
      await expect(scoreGroup(nowhere, 'q', ['x'])).rejects.toThrow(/could not be reached[\s\S]*CORS/);
    } finally {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    }
  });
});
