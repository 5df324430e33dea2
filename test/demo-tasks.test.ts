// The demo task suite: answers recomputed independently from the instruction text, disjoint and
// reproducible splits, and the judge that scores it.

import { describe, expect, it } from 'vitest';
import { demoJudgeRules, FAMILIES, makeSplits, promptRows, type Task } from '../src/demo/tasks';
import { rulesJudge } from '../src/tpo/judges';
import { restatedDigits } from '../src/demo/score';

/** Solves a task from its instruction alone. */
function solve(t: Task): string {
  const nums = (t.instruction.match(/\d+/g) ?? []).map(Number);
  switch (t.family) {
    case 'add':
      return String(nums[0] + nums[1]);
    case 'sub':
      return String(nums[0] - nums[1]);
    case 'compare':
      return String(Math.max(nums[0], nums[1]));
    case 'sort':
      return [...nums].sort((a, b) => a - b).join(', ');
    case 'word':
      return String(nums[0] + nums[1] - nums[2]);
    case 'count': {
      const [, c, w] = /letter "(.)" appear in "(\w+)"/.exec(t.instruction)!;
      return String([...w].filter((x) => x === c).length);
    }
    case 'convert': {
      const [, small, v, big] = /How many (\w+) are in (\d+) (\w+)\?/.exec(t.instruction)!;
      const f: Record<string, number> = {
        'm>cm': 100,
        'kg>g': 1000,
        'h>min': 60,
        'km>m': 1000,
        'min>s': 60,
        'cm>mm': 10,
        'l>ml': 1000,
      };
      return String(Number(v) * f[`${big}>${small}`]);
    }
    case 'chain':
      throw new Error('chain tasks are solved in test/demo-chains.test.ts');
  }
}

describe('demo task suite', () => {
  const s = makeSplits(7, { train: 140, pool: 70, heldOut: 70 });

  it('every family appears, every answer is right, every thought ends at the answer', () => {
    const all = [...s.train, ...s.pool, ...s.heldOut];
    expect(
      all
        .filter((t) => t.family === 'add')
        .every((t) => /^\d+\+\d+: (\d\+\d(\+1)?=\d+, )+?\d\+\d(\+1)?=\d+\. So \d+\.$/.test(t.thought)),
    ).toBe(true);
    expect(new Set(all.map((t) => t.family))).toEqual(new Set(FAMILIES));
    for (const t of all) {
      expect(t.answer, t.instruction).toBe(solve(t));
      expect(t.thought.endsWith(`So ${t.answer}.`), t.thought).toBe(true);
      // every written step of a scratchpad is true arithmetic ("4+2+1=7", "12-7=5", "7×60=420")
      for (const [, lhs, rhs] of t.thought.matchAll(/(\d+(?:[-+×]\d+)+)=(\d+)/g)) {
        const terms = lhs.match(/[-+×]?\d+/g)!;
        const value = lhs.includes('×')
          ? lhs
              .split('×')
              .map(Number)
              .reduce((a, b) => a * b)
          : terms.reduce((a, x) => a + Number(x), 0);
        expect(value, `${t.thought}: ${lhs}=${rhs}`).toBe(Number(rhs));
      }
    }
  });

  it('splits never share an instruction and are reproducible from the seed', () => {
    const key = (ts: Task[]) => new Set(ts.map((t) => t.instruction));
    const [a, b, c] = [key(s.train), key(s.pool), key(s.heldOut)];
    expect(a.size + b.size + c.size).toBe(280);
    for (const x of b) expect(a.has(x) || c.has(x)).toBe(false);
    for (const x of c) expect(a.has(x)).toBe(false);
    expect(makeSplits(7, { train: 140, pool: 70, heldOut: 70 })).toEqual(s);
    expect(makeSplits(8, { train: 140, pool: 70, heldOut: 70 }).train[0]).not.toEqual(s.train[0]);
  });

  it('extra held-out tasks come after the training split: the other splits unchanged, none ever trained on', () => {
    const x = makeSplits(7, { train: 140, pool: 70, heldOut: 70 }, 90);
    expect(x.train).toEqual(s.train);
    expect(x.pool).toEqual(s.pool);
    expect(x.heldOut.slice(0, 70)).toEqual(s.heldOut);
    expect(x.heldOut).toHaveLength(160);
    const seen = new Set([...s.train, ...s.pool, ...s.heldOut].map((t) => t.instruction));
    const extra = x.heldOut.slice(70);
    for (const t of extra) expect(seen.has(t.instruction)).toBe(false);
    expect(new Set(extra.map((t) => t.instruction)).size).toBe(90);
    expect(new Set(extra.map((t) => t.family)).size).toBeGreaterThanOrEqual(6); // the families stay mixed
  });

  it('the judge: the right short answer scores highest, a wrong or rambling one less', async () => {
    const j = rulesJudge(demoJudgeRules());
    const [row] = promptRows([s.heldOut[0]]);
    const meta = { answer: row.answer };
    const [right, wrong, long] = await j.score([
      { instruction: String(row.instruction), response: String(row.answer), meta },
      { instruction: String(row.instruction), response: '12345678', meta },
      {
        instruction: String(row.instruction),
        response: `The answer, after a lot of careful thought, is ${row.answer}`,
        meta,
      },
    ]);
    expect(right).toBeCloseTo(1.2, 10);
    expect(wrong).toBeCloseTo(0.2, 10);
    expect(long).toBe(0);
  });

  it('the digit-reading probe counts as copied only the digits of numbers restated from the instruction', () => {
    const marked = (instruction: string, text: string) =>
      text
        .split('')
        .map((c, i) => (restatedDigits(instruction, text)[i] ? c : '.'))
        .join('');
    expect(marked('What is 47 + 28?', 'Step: 47+28: 7+8=15, 4+2+1=7. So 75.')).toBe(
      '......47.28.........................',
    );
    expect(marked('Ana has 12 apples, gets 5 more, then gives away 7.', '12+5=17, 17-7=10. So 10.')).toBe(
      '12.5........7...........',
    );
    expect(marked('Sort: 30, 5, 12', 'Smallest of 30, 5, 12 is 5. So 5, 12, 30.')).toBe(
      '............30..5..12....5.....5..12..30.',
    );
    // every held-out task of the restating families has copied digits to probe
    for (const t of s.heldOut.filter((x) => ['add', 'sub', 'compare', 'sort', 'word'].includes(x.family))) {
      expect(restatedDigits(t.instruction, t.thought).some(Boolean), t.thought).toBe(true);
    }
  });
});
