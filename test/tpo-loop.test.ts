// The TPO loop end to end in Node: a tiny byte-level chat model is first SFT-trained (all
// weights) to answer in a thought format, then `tpo run` does two TPO iterations with a
// programmatic judge; the run folder is checked, and an interrupted iteration resumes with
// nothing lost or duplicated.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runNodeScript } from './helpers/node-script';
import { rng } from '../src/rng';
import { writeTinyModel } from './helpers/tiny-model';
import { testGpu } from './helpers/gpu';
import { loadModel } from '../src/engine/model';
import { folderSource } from '../src/model/source-node';
import { rulesJudge } from '../src/tpo/judges';
import { parseInstructions, runIteration } from '../src/tpo/loop';
import { customPrompt } from '../src/tpo/prompts';
import { folderStore } from '../src/tpo/store-node';
import { DEFAULT_TRAIN } from '../src/train/trainer';
import { DEFAULT_LORA, LoraLayout } from '../src/train/lora';
import { loadAdapter } from '../src/train/peft';

const TPO = join(__dirname, '../bin/tpo.mjs');
const tpo = (args: string[]) => runNodeScript(TPO, args);

let work: string, model: string;
const rand = rng(90);
const task = () => {
  const a = Math.floor(rand() * 5),
    b = Math.floor(rand() * 5);
  return { instruction: `sum ${a} ${b}`, answer: a + b, thought: `${a}+${b}` };
};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tpo-loop-'));
  const base = writeTinyModel(join(work, 'base'), {
    seed: 91,
    tokenizer: true,
    hidden: 32,
    heads: 4,
    kvHeads: 2,
    intermediate: 64,
    layers: 2,
  });
  const sft = Array.from({ length: 24 }, () => {
    const t = task();
    return {
      messages: [
        { role: 'user', content: t.instruction },
        { role: 'assistant', content: `T: ${t.thought} R: ${t.answer}` },
      ],
    };
  });
  writeFileSync(join(work, 'sft.jsonl'), sft.map((r) => JSON.stringify(r)).join('\n'));
  model = join(work, 'model');
  const r = await tpo([
    'sft',
    '--full',
    '--model',
    base,
    '--data',
    join(work, 'sft.jsonl'),
    '--out',
    model,
    '--lr',
    '1e-2',
    '--epochs',
    '12',
    '--batch-size',
    '8',
    '--schedule',
    'constant',
    '--seed',
    '1', // the data order of this seed gives a model whose samples form pairs in every run below
  ]);
  if (r.code) throw new Error(r.stderr);
  const pool = Array.from({ length: 8 }, (_, i) => ({ id: `q${i}`, ...task() }));
  writeFileSync(
    join(work, 'prompts.jsonl'),
    pool.map((p) => JSON.stringify({ id: p.id, instruction: p.instruction, answer: p.answer })).join('\n'),
  );
  writeFileSync(join(work, 'template.txt'), '{instruction}');
  writeFileSync(
    join(work, 'judge.json'),
    JSON.stringify([
      { type: 'numeric', weight: 1 },
      { type: 'length', max: 4, weight: 0.1 },
    ]),
  );
}, 600_000);

const runArgs = (out: string) => [
  'run',
  '--model',
  model,
  '--prompts',
  join(work, 'prompts.jsonl'),
  '--out',
  out,
  '--iterations',
  '2',
  '--per-iteration',
  '4',
  '--samples',
  '4',
  '--temperature',
  '1',
  '--max-new-tokens',
  '14',
  '--thought-prompt',
  join(work, 'template.txt'),
  '--separator',
  'R:',
  '--judge',
  `rules:${join(work, 'judge.json')}`,
  '--lr',
  '2e-3',
  '--batch-size',
  '2',
  '--lora-r',
  '4',
  '--lora-alpha',
  '8',
  '--max-length',
  '64',
  '--json',
];

describe('tpo run', () => {
  it('two iterations: samples, TRL pairs with thoughts, adapters, metrics; the judge never sees a thought', async () => {
    const out = join(work, 'run');
    const r = await tpo(runArgs(out));
    expect(r.code ?? 0, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.iteration)).toEqual([0, 1]);
    expect(lines[0].parse_failure_rate).toBeLessThan(1); // the SFT model follows the format at least sometimes
    // Every instruction is a pair or skipped for a counted reason.
    expect(lines[0].pairs + lines[0].skipped_all_tied + lines[0].skipped_too_few).toBe(4);
    expect(lines[0].unscored).toBe(0); // a rules judge scores every parsed response
    for (const it of [0, 1]) {
      for (const f of [
        `samples-${it}.jsonl`,
        `pairs-${it}.jsonl`,
        `metrics-${it}.json`,
        `adapter-${it}/adapter_config.json`,
        `adapter-${it}/adapter_model.safetensors`,
      ])
        expect(existsSync(join(out, f)), f).toBe(true);
      const samples = readFileSync(join(out, `samples-${it}.jsonl`), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(samples.map((s) => s.id).sort()).toEqual(it === 0 ? ['q0', 'q1', 'q2', 'q3'] : ['q4', 'q5', 'q6', 'q7']); // fresh slices
      for (const rec of samples) {
        expect(rec.samples).toHaveLength(4);
        for (const s of rec.samples) {
          if (s.parsed) {
            expect(s.raw.lastIndexOf('R:')).toBeGreaterThanOrEqual(0);
            expect(s.response).not.toContain('R:');
            expect(s.response).not.toContain(s.thought || '\u0000'); // what was judged holds no thought text
            expect(typeof s.score).toBe('number');
          } else expect(s.score).toBeNull(); // never judged
        }
      }
      const pairs = readFileSync(join(out, `pairs-${it}.jsonl`), 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      for (const p of pairs) {
        expect(p.prompt[0]).toMatchObject({ role: 'user' });
        expect(p.chosen[0].role).toBe('assistant');
        expect(p.chosen[0].content).toContain('R:'); // the chosen side keeps its thought and response
      }
    }
    const m0 = JSON.parse(readFileSync(join(out, 'metrics-0.json'), 'utf8'));
    expect(m0.pairs).toBeGreaterThan(0);
    expect(m0.dpo[0].loss).toBeCloseTo(Math.LN2, 4); // DPO from M_0 with M_0 as reference
    const m1 = JSON.parse(readFileSync(join(out, 'metrics-1.json'), 'utf8'));
    expect(m1.pairs).toBeGreaterThan(0);
    expect(m1.dpo[0].loss).toBeCloseTo(Math.LN2, 4); // M_1 as policy start and reference
  });

  it('an interrupted iteration resumes with nothing lost or duplicated; an existing run needs --resume', async () => {
    const out = join(work, 'run');
    const before = readFileSync(join(out, 'samples-1.jsonl'), 'utf8').trim().split('\n');
    // Simulate a crash in iteration 1 after two instructions, mid-way through writing the third.
    writeFileSync(join(out, 'samples-1.jsonl'), before.slice(0, 2).join('\n') + '\n' + before[2].slice(0, 40));
    for (const f of ['metrics-1.json', 'pairs-1.jsonl']) rmSync(join(out, f));
    rmSync(join(out, 'adapter-1'), { recursive: true });
    const again = await tpo(runArgs(out));
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already holds a run[\s\S]*--resume/);
    // A resumed run trains over the model it recorded: another --model is refused before anything is touched.
    const partial = readFileSync(join(out, 'samples-1.jsonl'), 'utf8');
    const other = await tpo([...runArgs(out).map((x) => (x === model ? join(work, 'base') : x)), '--resume']);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/holds a run over --model .*model, not .*base[\s\S]*Drop --model/);
    expect(readFileSync(join(out, 'samples-1.jsonl'), 'utf8')).toBe(partial);
    // Without --model it resumes over the recorded one; a differing setting is said to be ignored.
    const noModel = runArgs(out).filter((x, i, all) => x !== '--model' && all[i - 1] !== '--model');
    // the recorded judge is used: this call's rules file need not exist any more
    const goneRules = `rules:${join(work, 'deleted-judge.json')}`;
    const r = await tpo([
      ...noModel.map((x) => (x === '2e-3' ? '9e-3' : x.startsWith('rules:') ? goneRules : x)),
      '--resume',
    ]);
    expect(r.code ?? 0, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/recorded settings; these flags differ and are ignored: train\.lr\n/);
    expect(JSON.parse(readFileSync(join(out, 'metrics-1.json'), 'utf8')).dpo[0].lr).toBe(2e-3);
    const recs = readFileSync(join(out, 'samples-1.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .flatMap((l) => {
        try {
          return [JSON.parse(l)];
        } catch {
          return [];
        }
      });
    expect(recs.map((x) => x.id).sort()).toEqual(['q4', 'q5', 'q6', 'q7']); // each once
    expect(recs.slice(0, 2).map((x) => JSON.stringify(x))).toEqual(before.slice(0, 2)); // kept, not redone
    expect(existsSync(join(out, 'adapter-1', 'adapter_model.safetensors'))).toBe(true);
    expect(readFileSync(join(out, 'samples-0.jsonl'), 'utf8')).toBeTruthy();
  });
});

/** Every file under a run folder (config.json without its creation time), by relative path. */
function runFiles(dir: string, at = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(join(dir, at), { withFileTypes: true })) {
    const rel = join(at, e.name);
    if (e.isDirectory()) Object.assign(out, runFiles(dir, rel));
    else if (rel === 'config.json') {
      const { created: _c, ...rest } = JSON.parse(readFileSync(join(dir, rel), 'utf8'));
      out[rel] = JSON.stringify(rest);
    } else out[rel] = readFileSync(join(dir, rel)).toString('base64');
  }
  return out;
}

describe('tpo run under SIGKILL', () => {
  it('killed mid-sampling, mid-judging, mid-DPO, mid-adapter-write and before the metrics, each resumed run ends bit-identical to an uninterrupted one', async () => {
    const reference = join(work, 'kill-reference');
    const r = await tpo(runArgs(reference));
    expect(r.code ?? 0, r.stderr).toBe(0);
    const want = runFiles(reference);
    expect(Object.keys(want)).toContain('adapter-1/trainer_state.json');
    // TPO_FAULT makes the process SIGKILL itself the n-th time it reaches a crash point (src/tpo/fault.ts).
    for (const fault of ['sample-stored:2', 'judged:6', 'dpo-step:1', 'adapter-file:4', 'adapter-stored:1']) {
      const out = join(work, `kill-${fault.replace(':', '-')}`);
      const killed = await runNodeScript(TPO, runArgs(out), { TPO_FAULT: fault });
      expect(killed.signal, `${fault}: ${killed.stderr}`).toBe('SIGKILL');
      expect(existsSync(join(out, 'metrics-1.json')), fault).toBe(false); // it really stopped part-way
      const resumed = await tpo([...runArgs(out), '--resume']);
      expect(resumed.code ?? 0, `${fault}: ${resumed.stderr}`).toBe(0);
      expect(runFiles(out), fault).toEqual(want);
    }
  });
});

describe('baseline and evaluation', () => {
  it('--baseline trains the direct-response baseline the same way; --eval-prompts and tpo eval report win rates', async () => {
    const out = join(work, 'run-b');
    const args = runArgs(out).map((x) => (x === '2' ? '1' : x)); // one iteration
    const tooMany = await tpo([...args, '--validation', '5']); // 4 fresh + 5 held back > 8 prompts
    expect(tooMany.code).toBe(2);
    expect(tooMany.stderr).toMatch(
      /1 iterations of 4 fresh instructions and 5 fresh validation instructions need 9; the pool has 8/,
    );
    expect(existsSync(join(out, 'config.json'))).toBe(false); // nothing written
    const r = await tpo([...args, '--baseline', '--validation', '4', '--eval-prompts', join(work, 'prompts.jsonl')]);
    expect(r.code ?? 0, r.stderr).toBe(0);
    const sel = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((l) => l.iteration === 0).selection;
    expect(sel.candidates.map((c: { epoch: number }) => c.epoch)).toEqual([0, 1]); // M_0 and the one DPO epoch
    expect(sel.instructions).toBe(4);
    expect(existsSync(join(out, 'baseline', 'adapter-0', 'adapter_model.safetensors'))).toBe(true);
    const bSamples = readFileSync(join(out, 'baseline', 'samples-0.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(bSamples[0].samples.every((s: { thought: string }) => s.thought === '')).toBe(true); // no thought in the baseline
    const evals = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.eval)
      .map((l) => l.eval);
    expect(evals.map((e) => e.iteration)).toEqual(['base', 0]);
    for (const e of evals) {
      expect(e.instructions).toBe(8);
      expect(e.win_rate).toBeGreaterThanOrEqual(0);
      expect(e.win_rate).toBeLessThanOrEqual(1);
      expect(e.win_rate_ci95[0]).toBeLessThanOrEqual(e.win_rate);
      expect(e.win_rate_ci95[1]).toBeGreaterThanOrEqual(e.win_rate);
      expect(e.lc_win_rate).toBeGreaterThanOrEqual(0);
    }
    const again = await tpo([
      'eval',
      '--run',
      out,
      '--baseline-run',
      join(out, 'baseline'),
      '--prompts',
      join(work, 'prompts.jsonl'),
      '--json',
    ]);
    expect(again.code ?? 0, again.stderr).toBe(0);
    expect(
      again.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual(evals); // deterministic
    expect(JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8'))).toEqual(evals);
  });
});

describe('the judge sees responses only', () => {
  it('every judged text is a parsed response, and no thought text reaches the judge', async () => {
    const m = await loadModel(await testGpu(), folderSource(model), { slots: 8, maxLen: 96 });
    const inner = rulesJudge([{ type: 'numeric' }]);
    const seen: { instruction: string; response: string }[] = [];
    const spy = {
      kind: 'pointwise' as const,
      name: 'spy',
      // The first response of each instruction gets no score (as an LLM judge's reply without a rating).
      score: async (items: { instruction: string; response: string }[]) => {
        seen.push(...items);
        return (await inner.score(items)).map((s, k) => (k === 0 ? null : s));
      },
    };
    const store = await folderStore(mkdtempSync(join(tmpdir(), 'tpo-spy-')));
    const pool = parseInstructions(
      readFileSync(join(work, 'prompts.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    );
    const metrics = await runIteration({ model: m, judge: spy, store }, 0, pool.slice(0, 4), {
      prompt: customPrompt('{instruction}', 'R:'),
      samples: 4,
      temperature: 1,
      topP: 1,
      seed: 3,
      maxNewTokens: 14,
      perIteration: 4,
      rho: 0,
      lora: { ...DEFAULT_LORA, r: 2, alpha: 4 },
      train: { ...DEFAULT_TRAIN, batchSize: 2 },
      maxLength: 64,
      baseModel: 'spy-test',
    });
    const samples = (await store.readSamples(0)).flatMap((r) => r.samples);
    const parsed = samples.filter((s) => s.parsed);
    expect(parsed.length).toBeGreaterThan(0);
    expect(seen.map((x) => x.response).sort()).toEqual(parsed.map((s) => s.response).sort()); // parsed ones only, each once
    // No score is stored as null and counted, never as the worst score.
    const groups = (await store.readSamples(0)).filter((r) => r.samples.some((s) => s.parsed)).length;
    expect(groups).toBeGreaterThan(0);
    expect(parsed.filter((s) => s.score === null).length).toBe(groups);
    expect(metrics.unscored).toBe(groups);
    expect(metrics.pairs + metrics.skipped_all_tied + metrics.skipped_too_few!).toBe(4);
    for (const x of seen) {
      expect(x.response).not.toMatch(/T:|R:/); // no thought marker, no separator
      expect(x.instruction).toMatch(/^sum \d \d$/); // the bare instruction, not the thought prompt
    }
    m.destroy();
  });
});

describe('checkpoint selection on validation instructions', () => {
  it('keeps M_t when no DPO epoch beats it, the best epoch otherwise, and records every candidate; a cancel between epochs stores nothing', async () => {
    const m = await loadModel(await testGpu(), folderSource(model), { slots: 8, maxLen: 96 });
    const pool = parseInstructions(
      readFileSync(join(work, 'prompts.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    );
    const lora = { ...DEFAULT_LORA, r: 2, alpha: 4 };
    const o = {
      prompt: customPrompt('{instruction}', 'R:'),
      samples: 4,
      temperature: 1,
      topP: 1,
      seed: 3,
      maxNewTokens: 14,
      perIteration: 4,
      rho: 0,
      lora,
      train: { ...DEFAULT_TRAIN, batchSize: 2, epochs: 2, lr: 2e-2, schedule: 'constant' as const },
      maxLength: 64,
      baseModel: 'sel-test',
    };
    const inner = rulesJudge([{ type: 'numeric' }]);
    // The pool's samples are judged for real; once DPO has started, `afterTraining` scores the validation responses.
    const run = async (afterTraining?: (n: number) => number[]) => {
      let training = false;
      const judge = {
        kind: 'pointwise' as const,
        name: 'test',
        score: async (items: { instruction: string; response: string }[]) =>
          training && afterTraining ? afterTraining(items.length) : inner.score(items),
      };
      const store = await folderStore(mkdtempSync(join(tmpdir(), 'tpo-sel-')));
      const metrics = await runIteration(
        { model: m, judge, store, onStep: () => (training = true) },
        0,
        pool.slice(0, 4),
        o,
        afterTraining ? pool.slice(4) : [],
      );
      return { metrics, values: await valuesIn(store) };
    };
    const valuesIn = async (store: Awaited<ReturnType<typeof folderStore>>) => {
      const files = (await store.readAdapter(0))!;
      return (
        await loadAdapter(m.config, files['adapter_config.json'], files['adapter_model.safetensors'], {
          baseModel: 'sel-test',
        })
      ).values;
    };
    const last = await run(); // no validation: the last epoch
    expect(last.metrics.selection).toBeUndefined();
    expect(last.metrics.pairs).toBeGreaterThan(0);
    const init = new LoraLayout(m.config, lora).init(o.seed);
    expect(last.values).not.toEqual(init);

    // A cancel between DPO epochs (the app's pause/cancel hook) stores no adapter; resuming retrains to the same one.
    const store = await folderStore(mkdtempSync(join(tmpdir(), 'tpo-cancel-')));
    let started = false;
    const cancelling = {
      model: m,
      judge: inner,
      store,
      onStep: () => (started = true),
      between: async () => {
        if (started) throw new Error('cancelled by the test');
      },
    };
    await expect(runIteration(cancelling, 0, pool.slice(0, 4), o)).rejects.toThrow('cancelled by the test');
    expect(started).toBe(true);
    expect(await store.readAdapter(0)).toBeNull();
    expect(await store.readMetrics(0)).toBeNull();
    await runIteration({ model: m, judge: inner, store }, 0, pool.slice(0, 4), o);
    expect(await valuesIn(store)).toEqual(last.values);

    const none = await run((n) => new Array(n).fill(0)); // every candidate ties → M_t, no update
    expect(none.metrics.selection!.candidates.map((c) => c.epoch)).toEqual([0, 1, 2]);
    expect(none.metrics.selection!.instructions).toBe(4);
    expect(none.metrics.selection!.chosen_epoch).toBe(0);
    expect(none.values).toEqual(init);
    expect(none.metrics.dpo).toEqual(last.metrics.dpo); // validation between epochs leaves training untouched

    const later = await run((n) => Array.from({ length: n }, (_, i) => i)); // candidate-major: later epochs score higher
    const sel = later.metrics.selection!;
    expect(sel.candidates.every((c) => c.parse_failure_rate < 1)).toBe(true);
    expect(sel.candidates[2].win_share).toBeGreaterThan(sel.candidates[1].win_share);
    expect(sel.chosen_epoch).toBe(2);
    expect(later.values).toEqual(last.values); // the last epoch's adapter, exactly
    m.destroy();
  });
});

describe('tpo judge', () => {
  it('a point-wise judge scores each item; a pair-wise one compares every ordered pair per instruction into Bradley–Terry scores', async () => {
    const items = join(work, 'items.jsonl');
    const rows = [
      { instruction: 'sum 1 2', response: '3', answer: 3 },
      { instruction: 'sum 1 2', response: 'it is 4', answer: 3 },
      { instruction: 'sum 1 2', response: 'maybe 3 or so', answer: 3 },
      { instruction: 'sum 2 2', response: '4', answer: 4 },
      { instruction: 'sum 2 2', response: 'four, I think', answer: 4 },
    ];
    writeFileSync(items, rows.map((r) => JSON.stringify(r)).join('\n'));
    const lines = (out: string) =>
      out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
    // rules: numeric (1 when the last number is the answer) + length ≤ 4 characters (0.1)
    const rules = await tpo(['judge', '--judge', `rules:${join(work, 'judge.json')}`, '--items', items, '--json']);
    expect(rules.code ?? 0, rules.stderr).toBe(0);
    expect(lines(rules.stdout).map((l) => l.score)).toEqual([1.1, 0, 1, 1.1, 0]);
    expect(lines(rules.stdout)[0]).toEqual({ ...rows[0], score: 1.1 }); // the item's fields kept
    // A pair-wise judge behind an OpenAI-compatible endpoint that prefers the shorter answer.
    const asked: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const user: string = JSON.parse(body).messages[1].content;
        const answer = (who: string) =>
          user.split(`[The Start of Assistant ${who}'s Answer]\n`)[1].split('\n[The End')[0];
        asked.push(`${answer('A')}|${answer('B')}`);
        const verdict = answer('A').length <= answer('B').length ? '[[A]]' : '[[B]]';
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: verdict } }] }));
      });
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
      const pw = await tpo(['judge', '--judge', `http:${url}#m`, '--items', items, '--json']);
      expect(pw.code ?? 0, pw.stderr).toBe(0);
      expect(asked).toHaveLength(3 * 2 + 2 * 1); // every ordered pair within each instruction, never across
      expect(asked).toContain('it is 4|3');
      expect(asked).toContain('3|it is 4');
      const s = lines(pw.stdout).map((l) => l.score as number);
      expect(s[0]).toBeGreaterThan(s[1]); // shortest first
      expect(s[1]).toBeGreaterThan(s[2]);
      expect(s[3]).toBeGreaterThan(s[4]);
      expect(s[0] + s[1] + s[2]).toBeCloseTo(0, 6); // Bradley–Terry scores are centred per instruction
      expect(s[3] + s[4]).toBeCloseTo(0, 6);
    } finally {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    }
    const bad = await tpo([
      'judge',
      '--judge',
      `rules:${join(work, 'judge.json')}`,
      '--items',
      join(work, 'judge.json'),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/row 1: needs "instruction" and "response" strings/);
  });
});
