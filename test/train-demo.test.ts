// `npm run train:demo` as a user runs it (a child process through scripts/train-demo.mjs), on the
// --quick suite: a first stage from scratch, then a second stage that continues it with --init.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runNodeScript } from './helpers/node-script';

const SCRIPT = join(__dirname, '../scripts/train-demo.mjs');
const trainDemo = (args: string[]) => runNodeScript(SCRIPT, args);

const read = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');
const logRows = (dir: string) =>
  read(dir, 'training_log.csv')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(',').map(Number));

describe('npm run train:demo', () => {
  it('trains a model folder from scratch, and --init continues it: same tokenizer and shape, loss curve and card extended', async () => {
    const root = mkdtempSync(join(tmpdir(), 'tpo-train-demo-'));
    const a = join(root, 'a'),
      b = join(root, 'b');
    const first = await trainDemo(['--quick', '--eval-tasks', '2', '--out', a]);
    expect(first.code ?? 0, first.stderr).toBe(0);
    const rowsA = logRows(a);
    expect(rowsA.length).toBeGreaterThan(2);
    expect(rowsA.map((r) => r[0])).toEqual(rowsA.map((_, i) => i + 1));
    const cardA = read(a, 'README.md');
    expect(cardA).not.toMatch(/stages/);
    const stagesA = JSON.parse(read(a, 'training_stages.json'));
    expect(stagesA).toHaveLength(1);
    expect(stagesA[0]).toMatchObject({
      stage: 1,
      steps: rowsA.length,
      epochs: 1,
      lr: 4e-3,
      batch: 4,
      row_length: 128,
      tasks: 64,
      seed: 1,
    });
    expect(stagesA[0].seconds).toBeGreaterThan(0);
    expect(cardA).toContain(`${stagesA[0].seconds} s on\n`);
    const lossesA = rowsA.map((r) => r[2]);
    expect(stagesA[0].final_loss).toBeCloseTo(lossesA.reduce((x, y) => x + y, 0) / lossesA.length, 3); // < 100 steps: all of them
    const evalA = JSON.parse(read(a, 'eval.json'));
    expect(evalA.thought.tasks).toBe(2);
    for (const k of ['digit_logprob', 'copied_digit_logprob']) expect(evalA[k]).toBeLessThan(0);
    expect(stagesA[0].eval).toEqual({
      thought_accuracy: evalA.thought.accuracy,
      direct_accuracy: evalA.direct.accuracy,
      digit_logprob: evalA.digit_logprob,
      copied_digit_logprob: evalA.copied_digit_logprob,
    });
    expect(cardA).toContain(
      `only copies from the instruction (a restated number) gets ${evalA.copied_digit_logprob.toFixed(2)}`,
    );

    expect(cardA).not.toMatch(/How it got here/); // a model from scratch has no history yet
    // a lineage's history (as the shipped model's card has) travels with --init
    const history = 'Stage 1 was trained here, in a test.\n';
    writeFileSync(join(a, 'README.md'), `${cardA}\n## How it got here\n${history}`);
    const second = await trainDemo([
      '--init',
      a,
      '--quick',
      '--eval-tasks',
      '2',
      '--rambling',
      '0.3',
      '--guess-right',
      '0.1',
      '--out',
      b,
    ]);
    expect(second.code ?? 0, second.stderr).toBe(0);
    for (const kept of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'])
      expect(read(b, kept)).toBe(read(a, kept));
    expect(readFileSync(join(b, 'model.safetensors')).equals(readFileSync(join(a, 'model.safetensors')))).toBe(false);
    // The second stage's curve goes on where the first one stopped (same number of steps: same split).
    const rowsB = logRows(b);
    expect(rowsB.slice(0, rowsA.length)).toEqual(rowsA);
    expect(rowsB.map((r) => r[0])).toEqual(rowsB.map((_, i) => i + 1));
    expect(rowsB.length).toBe(2 * rowsA.length);
    expect(rowsB[rowsA.length][1]).toBeGreaterThan(rowsA.at(-1)![1]); // epochs keep counting
    // The stage records go on: the first one as it was measured, then this one; the card lists both.
    const stagesB = JSON.parse(read(b, 'training_stages.json'));
    expect(stagesB).toHaveLength(2);
    expect(stagesB[0]).toEqual(stagesA[0]);
    expect(stagesB[1]).toMatchObject({ stage: 2, steps: rowsA.length, rambling_share: 0.3, guess_right: 0.1 });
    expect(stagesA[0]).toMatchObject({ rambling_share: 0.45, guess_right: 0.5 });
    const cardB = read(b, 'README.md');
    expect(cardB.endsWith(`\n## How it got here\n${history}`)).toBe(true);
    expect(cardB).toContain(
      `Trained in 2 stages, ${2 * rowsA.length} steps in ${stagesA[0].seconds + stagesB[1].seconds} s in all`,
    );
    expect(cardB).toContain(`| 1 | first | ${rowsA.length} | ${stagesA[0].seconds} | 45.0% | 50.0% |`);
    expect(cardB).toContain(`| 2 | first | ${2 * rowsA.length} | ${stagesB[1].seconds} | 30.0% | 10.0% |`);
    expect(cardB).toContain(
      'Thought styles (share of thought-prompted rows, this stage): rambling 30.0%, worked 44.5%',
    );
    expect(cardB).toContain(
      '--init <the stage before>` (with `--rambling <share>` where the rambling column changes and `--guess-right <share>` where the guesses right column changes)',
    );
    expect(cardB).toContain('A guess is\nthe right answer 10.0% of the time in this stage, a near miss otherwise.');
    expect(cardA).toContain('A guess is\nthe right answer 50.0% of the time, a near miss otherwise.');

    // --init needs a folder this script wrote: one without the stage records is a usage error.
    const noRecord = await trainDemo(['--init', root, '--out', join(root, 'd')]);
    expect(noRecord.code).toBe(2);
    expect(noRecord.stderr).toMatch(/^tpo: UsageError: --init .*: no training_stages.json there/m);

    // A shape flag cannot change a continued model: a one-line usage error, exit 2.
    const bad = await trainDemo(['--init', a, '--hidden', '32', '--out', join(root, 'c')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^tpo: UsageError: --init keeps the shape/m);
    expect(bad.stderr).not.toMatch(/\n\s+at /); // no stack
    const share = await trainDemo(['--init', a, '--rambling', '1', '--out', join(root, 'c')]);
    expect(share.code).toBe(2);
    expect(share.stderr).toMatch(/^tpo: UsageError: --rambling is a share of the thoughts in \[0, 1\), got 1/m);
    const guess = await trainDemo(['--init', a, '--guess-right', '1.5', '--out', join(root, 'c')]);
    expect(guess.code).toBe(2);
    expect(guess.stderr).toMatch(/^tpo: UsageError: --guess-right is a share of the guesses in \[0, 1\], got 1.5/m);
  });
});
