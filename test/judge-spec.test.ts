// The judge module (tpo/judge-spec.ts): --judge strings parse into specs, stored runs' judges
// (specs, or the strings older runs kept) read back, and the one factory builds each kind — the
// local kinds over the embedded demo's real reward and judge models, scoring as the judges built
// directly do.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LoadedModel, loadModel } from '../src/engine/model';
import { UsageError } from '../src/errors';
import { folderSource } from '../src/model/source-node';
import { enginePairwiseJudge } from '../src/tpo/engine-judge';
import { JUDGE_DEFAULTS, type JudgeSpec, makeJudge, parseJudgeArg, storedJudgeSpec } from '../src/tpo/judge-spec';
import type { PairwiseJudge, Rule, ScoringJudge } from '../src/tpo/judges';
import { rewardModelJudge } from '../src/tpo/rm-judge';
import { testGpu } from './helpers/gpu';

const read = (p: string) => readFile(p, 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'judge-spec-'));
const rulesFile = join(dir, 'judge.json');
const RULES: Rule[] = [{ type: 'exact', field: 'answer' }];
writeFileSync(rulesFile, JSON.stringify({ rules: RULES }));
writeFileSync(join(dir, 'list.json'), JSON.stringify(RULES));

describe('parseJudgeArg', () => {
  it('reads a rules file (a list or {"rules": [...]}) into an inline spec labelled with the file', async () => {
    expect(await parseJudgeArg(`rules:${rulesFile}`, undefined, read)).toEqual({
      kind: 'rules',
      rules: RULES,
      label: `rules:${rulesFile}`,
    });
    const list = await parseJudgeArg(`rules:${join(dir, 'list.json')}`, undefined, read);
    expect(list).toMatchObject({ kind: 'rules', rules: RULES });
  });

  it('parses http with its mode (pairwise by default), pairwise and rm with their model', async () => {
    const url = 'http:http://localhost:8000/v1#qwen';
    expect(await parseJudgeArg(url, undefined, read)).toEqual({
      ...{ kind: 'http', baseUrl: 'http://localhost:8000/v1', model: 'qwen' },
      mode: JUDGE_DEFAULTS.httpMode,
    });
    expect(await parseJudgeArg(url, 'pointwise', read)).toMatchObject({ mode: 'pointwise' });
    expect(await parseJudgeArg('pairwise:HuggingFaceTB/SmolLM2-360M-Instruct', undefined, read)).toEqual({
      kind: 'pairwise',
      model: 'HuggingFaceTB/SmolLM2-360M-Instruct',
    });
    expect(await parseJudgeArg('rm:./rm', undefined, read)).toEqual({ kind: 'rm', model: './rm' });
  });

  it('rejects bad arguments with a usage error that says what to write', async () => {
    const bad = async (arg: string, mode?: string) => {
      const e = await parseJudgeArg(arg, mode, read).catch((x) => x);
      expect(e).toBeInstanceOf(UsageError);
      return (e as Error).message;
    };
    expect(await bad('oracle:x')).toMatch(/unknown kind/);
    expect(await bad('http:http://localhost:8000/v1')).toMatch(/http:<url>#<model>/);
    expect(await bad('rm:')).toMatch(/names no model/);
    expect(await bad(`rules:${join(dir, 'missing.json')}`)).toMatch(/missing\.json/);
    expect(await bad('http:http://x#m', 'ranked')).toMatch(/--judge-mode ranked/);
  });
});

describe('storedJudgeSpec', () => {
  it('takes a stored spec as it is, parses an older run’s string, and applies --judge-mode to http', async () => {
    const spec: JudgeSpec = { kind: 'rules', rules: RULES };
    expect(await storedJudgeSpec(spec, read)).toBe(spec);
    expect(await storedJudgeSpec(`rules:${rulesFile}`, read)).toMatchObject({ kind: 'rules', rules: RULES });
    const http: JudgeSpec = { kind: 'http', baseUrl: 'http://x', model: 'm', mode: 'pairwise' };
    expect(await storedJudgeSpec(http, read, 'pointwise')).toEqual({ ...http, mode: 'pointwise' });
    await expect(storedJudgeSpec({ kind: 'oracle' }, read)).rejects.toThrow(/not a judge spec/);
    await expect(storedJudgeSpec(null, read)).rejects.toBeInstanceOf(UsageError);
  });
});

describe('makeJudge', () => {
  let rm: LoadedModel, chat: LoadedModel;
  const loads: string[] = [];
  const env = {
    label: (m: string) => `label of ${m}`,
    loadModel: async (m: string, kind: 'rm' | 'pairwise') => {
      loads.push(`${kind}:${m}`);
      return m === 'rm' ? rm : chat;
    },
  };
  beforeAll(async () => {
    const gpu = await testGpu();
    rm = await loadModel(gpu, folderSource('public/models/tpo-demo-rm'), { slots: 4, maxLen: 256, maxRows: 64 });
    chat = await loadModel(gpu, folderSource('public/models/tpo-demo-judge'), { slots: 4, maxLen: 1024 });
  });
  afterAll(() => {
    rm?.destroy();
    chat?.destroy();
  });

  it('builds a rules judge that scores by its rules', async () => {
    const j = (await makeJudge({ kind: 'rules', rules: RULES, label: 'rules:x' }, env)) as ScoringJudge;
    expect(j.name).toBe('rules:x');
    const items = [
      { instruction: 'q', response: '7', meta: { answer: '7' } },
      { instruction: 'q', response: '8', meta: { answer: '7' } },
    ];
    const [right, wrong] = await j.score(items);
    expect(right).toBeGreaterThan(wrong as number);
  });

  it('builds an http judge of the spec’s mode, pairwise when none is stored', async () => {
    const base = { kind: 'http' as const, baseUrl: 'http://localhost:9/v1', model: 'm' };
    expect(await makeJudge(base, env)).toMatchObject({ kind: 'pairwise', name: 'http:m' });
    expect(await makeJudge({ ...base, mode: 'pointwise' }, env)).toMatchObject({ kind: 'pointwise' });
  });

  it('builds the local judges over the loader’s models, scoring as the judges built directly', async () => {
    const it0 = { instruction: 'What is 2 + 3?', response: '5' };
    const it1 = { instruction: 'What is 2 + 3?', response: 'I do not know.' };
    const viaSpec = (await makeJudge({ kind: 'rm', model: 'rm' }, env)) as ScoringJudge;
    expect(viaSpec.name).toBe('rm:label of rm');
    expect(await viaSpec.score([it0, it1])).toEqual(await rewardModelJudge(rm, 'x').score([it0, it1]));

    const pair = { instruction: it0.instruction, a: it0.response, b: it1.response };
    const judge = (await makeJudge({ kind: 'pairwise', model: 'chat' }, env)) as PairwiseJudge;
    expect(judge.name).toBe('pairwise:label of chat');
    const direct = enginePairwiseJudge(chat, 'x', JUDGE_DEFAULTS.pairwiseTokens);
    expect(await judge.compare([pair])).toEqual(await direct.compare([pair]));
    expect(loads).toEqual(['rm:rm', 'pairwise:chat']);
  });

  it('lets the policy judge itself only when the policy is given', async () => {
    const spec: JudgeSpec = { kind: 'pairwise', model: 'policy' };
    await expect(makeJudge(spec, env)).rejects.toBeInstanceOf(UsageError);
    const j = await makeJudge(spec, { ...env, policy: { model: chat, label: 'tpo-demo-judge' } });
    expect(j.name).toBe('pairwise:tpo-demo-judge (the policy)');
    await expect(makeJudge({ kind: 'oracle' } as unknown as JudgeSpec, env)).rejects.toThrow(/unknown judge kind/);
  });
});
