// `npm run experiment -- --score-shipped` as a user runs it (a child process): fresh tasks drawn
// with a seed, four arms scored greedily by the rules judge, one JSON line each; the base arms equal
// the library's own scoring of the same fresh tasks; a missing adapter folder is a usage error.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/engine/model';
import { folderSource } from '../src/model/source-node';
import { scoreTasks } from '../src/demo/score';
import { freshTasks } from '../src/demo/tasks';
import { DIRECT, GENERIC, renderPrompt } from '../src/tpo/prompts';
import { testGpu } from './helpers/gpu';
import { runNodeScript } from './helpers/node-script';

const DEMO = join(__dirname, '../public/models/tpo-demo');
const EXPERIMENT = join(__dirname, '../scripts/experiment.mjs');
const TPO = join(__dirname, '../bin/tpo.mjs');

describe('npm run experiment -- --score-shipped', () => {
  it('scores base-direct, base-think, tpo-think and direct-trained on N fresh tasks of a seed', async () => {
    const work = mkdtempSync(join(tmpdir(), 'tpo-shipped-'));
    // an adapter of the demo model (one DPO pair) standing in for both shipped ones
    const t = freshTasks(9, 1)[0];
    const row = {
      prompt: [{ role: 'user', content: renderPrompt(GENERIC, t.instruction) }],
      chosen: [
        { role: 'assistant', content: `Here is my thought process: ${t.thought}\n\nHere is my response: ${t.answer}` },
      ],
      rejected: [
        { role: 'assistant', content: 'Here is my thought process: This looks easy.\n\nHere is my response: 0' },
      ],
    };
    writeFileSync(join(work, 'pairs.jsonl'), `${JSON.stringify(row)}\n`);
    const adapter = join(work, 'adapter');
    const d = await runNodeScript(TPO, [
      'dpo',
      '--model',
      DEMO,
      '--pairs',
      join(work, 'pairs.jsonl'),
      '--out',
      adapter,
      '--lr',
      '1e-2',
    ]);
    expect(d.code ?? 0, d.stderr).toBe(0);
    const flags = [
      '--score-shipped',
      '--seed',
      '3',
      '--held-out',
      '12',
      '--tpo-adapter',
      adapter,
      '--direct-adapter',
      adapter,
    ];
    const r = await runNodeScript(EXPERIMENT, flags);
    expect(r.code ?? 0, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.arm)).toEqual(['base-direct', 'base-think', 'tpo-think', 'direct-trained']);
    const tasks = freshTasks(3, 12);
    const families = new Set(tasks.map((x) => x.family));
    for (const l of lines) {
      expect(l).toMatchObject({ n: 12, seed: 3 });
      expect(l.accuracy).toBeGreaterThanOrEqual(0);
      expect(l.accuracy).toBeLessThanOrEqual(1);
      expect(new Set(Object.keys(l.families))).toEqual(families);
    }
    // the base arms are the library's scoring of the same fresh tasks
    const m = await loadModel(await testGpu(), folderSource(DEMO), { slots: 32, maxLen: 512 });
    const direct = await scoreTasks(m, tasks, DIRECT);
    const think = await scoreTasks(m, tasks, GENERIC);
    m.destroy();
    expect(lines[0].accuracy).toBe(direct.accuracy);
    expect(lines[0].families).toEqual(direct.by_family);
    expect(lines[1].accuracy).toBe(think.accuracy);

    const missing = await runNodeScript(EXPERIMENT, [
      '--score-shipped',
      '--held-out',
      '4',
      '--tpo-adapter',
      join(work, 'nope'),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/UsageError: --adapter .*nope.*adapter_config\.json/s);
  });
});
