// The `tpo` command as a user runs it: a child process through bin/tpo.mjs.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runNodeScript } from './helpers/node-script';
import { loadModel } from '../src/engine/model';
import { folderSource } from '../src/model/source-node';
import { testGpu } from './helpers/gpu';
import { writeTinyModel } from './helpers/tiny-model';
import { rewardModelJudge } from '../src/tpo/rm-judge';

const TPO = join(__dirname, '../bin/tpo.mjs');
const STORIES = join(__dirname, '../public/models/stories260K');
const tpo = (args: string[]) => runNodeScript(TPO, args);

describe('tpo generate', () => {
  it('runs on the embedded stories260K (no tokenizer: ids) with --json and matches the library', async () => {
    const r = await tpo([
      'generate',
      '--model',
      STORIES,
      '--max-new-tokens',
      '12',
      '--temperature',
      '0',
      '--num-samples',
      '2',
      '--json',
    ]);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ sample: 0, text: '', finish_reason: 'length' });
    expect(lines[0].token_ids).toHaveLength(12);
    expect(lines[1].token_ids).toEqual(lines[0].token_ids); // greedy: seeds do not matter
    const m = await loadModel(await testGpu(), folderSource(join(__dirname, '../public/models/stories260K')), {
      slots: 1,
      maxLen: 64,
    });
    const [g] = await m.generate([[1]], { maxNewTokens: 12, temperature: 0 });
    m.destroy();
    expect(lines[0].token_ids).toEqual(g.tokenIds);
    expect(r.stderr).toMatch(/software WebGPU adapter|tok\/s/);
  });

  it('--prompt goes through the chat template of a folder model with a tokenizer; samples differ by seed', async () => {
    const dir = writeTinyModel(mkdtempSync(join(tmpdir(), 'tpo-cli-')), { seed: 31, tokenizer: true });
    const r = await tpo([
      'generate',
      '--model',
      dir,
      '--prompt',
      'hi',
      '--max-new-tokens',
      '8',
      '--num-samples',
      '3',
      '--temperature',
      '1.5',
      '--top-p',
      '1',
      '--seed',
      '7',
      '--json',
    ]);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.sample)).toEqual([0, 1, 2]);
    expect(new Set(lines.map((l) => l.token_ids.join())).size).toBeGreaterThan(1);
    const m = await loadModel(await testGpu(), folderSource(dir), { slots: 3, maxLen: 64 });
    const prompt = m.tokenizer!.applyChatTemplate([{ role: 'user', content: 'hi' }]);
    const want = await m.generate([prompt, prompt, prompt], { maxNewTokens: 8, temperature: 1.5, topP: 1, seed: 7 });
    m.destroy();
    expect(lines.map((l) => l.token_ids)).toEqual(want.map((w) => w.tokenIds));
    expect(lines.map((l) => l.text)).toEqual(want.map((w) => w.text));
  });

  it('with no --model it runs the embedded tpo-demo; --think prints only the response, the thought hidden', async () => {
    const q = 'Which is larger, 48 or 51?';
    const j = await tpo(['generate', '--think', '--prompt', q, '--temperature', '0', '--json']);
    expect(j.code ?? 0, j.stderr).toBe(0);
    const line = JSON.parse(j.stdout);
    expect(Object.keys(line).sort()).toEqual([
      'finish_reason',
      'parsed',
      'response',
      'sample',
      'text',
      'thought',
      'token_ids',
    ]);
    const plain = await tpo(['generate', '--think', '--prompt', q, '--temperature', '0', '--show-thought']);
    expect(plain.code ?? 0, plain.stderr).toBe(0);
    expect(plain.stdout).not.toMatch(/Here is my (thought process|response)/);
    expect(line.parsed).toBe(true); // greedy, the demo model follows the format (docs/experiment.md: 0% failures)
    expect(line.text).toContain('Here is my response:');
    expect(plain.stdout.trim()).toBe(line.response);
    expect(plain.stderr).toContain(`(thought) ${line.thought}`);
    // Cut off before the separator: nothing on stdout, and stderr says why.
    const cut = await tpo(['generate', '--think', '--prompt', q, '--temperature', '0', '--max-new-tokens', '3']);
    expect(cut.code ?? 0, cut.stderr).toBe(0);
    expect(cut.stdout).toBe('');
    expect(cut.stderr).toMatch(/did not follow the answer format/);
    // the same model answers the bare instruction directly
    const direct = await tpo(['generate', '--prompt', q, '--temperature', '0', '--json']);
    expect(JSON.parse(direct.stdout).text.length).toBeGreaterThan(0);
    expect((await tpo(['generate', '--think', '--prompt-ids', '1,2'])).stderr).toMatch(/--think wraps --prompt/);
  });

  it("the README's first command prints what the README says: the shipped TPO adapter works the chain out, the base model does not", async () => {
    const readme = readFileSync(join(__dirname, '../README.md'), 'utf8');
    const line = readme.split('\n').find((l) => l.startsWith('npm install && npx tpo generate'));
    expect(line, 'the README opens with a tpo generate command').toBeDefined();
    const command = String(line)
      .replace(/^npm install && npx tpo /, '')
      .replace(/\s+#.*$/, '');
    const args = [...command.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
    expect(args).toContain('--adapter');
    const answer = readme.match(/prints\s+only the answer \(`([^`]+)`\)/)?.[1];
    expect(answer, 'the README says what it prints').toBeDefined();
    const r = await tpo([...args, '--show-thought']);
    expect(r.code ?? 0, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(answer);
    expect(readme).toContain(r.stderr.match(/\(thought\) (.*)/)?.[1]); // the thought the README quotes
    // without the adapter the untrained model thinks by its habit, and gets it wrong
    const cut = (x: string) => x !== '--adapter' && !x.includes('tpo-demo-tpo');
    const base = await tpo([...args.filter(cut), '--json']);
    expect(JSON.parse(base.stdout).thought).toMatch(/^Hmm, let me think about this carefully/);
    expect(JSON.parse(base.stdout).response.trim()).not.toBe(answer);
  });

  it('bad input gives a clear error and exit code 2', async () => {
    const missing = await tpo(['generate', '--model', '/nonexistent/folder']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no such folder, and not a hub repo id/);
    const noTok = await tpo(['generate', '--model', STORIES, '--prompt', 'hello']);
    expect(noTok.code).toBe(2);
    expect(noTok.stderr).toMatch(/has no tokenizer\.json[\s\S]*--prompt-ids/);
    const badFlag = await tpo(['generate', '--bogus']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/bogus/);
    const badIds = await tpo(['generate', '--model', STORIES, '--prompt-ids', '1,9999']);
    expect(badIds.code).toBe(2);
    expect(badIds.stderr).toMatch(/outside the vocabulary/);
  });
});

describe('tpo rm', () => {
  it('trains a reward model (--full: a model folder; LoRA: a PEFT adapter with the score head) from text pairs, logs TRL RewardTrainer metrics; the rm: judge loads both', async () => {
    const { writeFileSync } = await import('node:fs');
    const work = mkdtempSync(join(tmpdir(), 'tpo-cli-rm-'));
    const rmDir = writeTinyModel(join(work, 'rm'), { seed: 92, tokenizer: true, scoreLabels: 1 });
    const rows = [
      { prompt: 'What is 2 + 2?', chosen: '4', rejected: '5' },
      { prompt: 'What is 3 + 3?', chosen: '6', rejected: 'seven' },
      { prompt: 'Name a colour.', chosen: 'red', rejected: 'no idea', margin: 0.2 },
    ];
    writeFileSync(join(work, 'pairs.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const out = join(work, 'trained');
    const args = ['rm', '--model', rmDir, '--pairs', join(work, 'pairs.jsonl'), '--out', out];
    const r = await tpo([...args, '--full', '--lr', '1e-2', '--epochs', '30', '--batch-size', '3', '--json']);
    expect(r.code ?? 0, r.stderr).toBe(0);
    const steps = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(steps).toHaveLength(30);
    for (const k of ['loss', 'accuracy', 'margin', 'min_reward', 'mean_reward', 'max_reward', 'grad_norm', 'lr'])
      expect(steps[0], k).toHaveProperty(k);
    expect(steps.at(-1).accuracy).toBe(1);
    expect(steps.at(-1).loss).toBeLessThan(steps[0].loss);
    const m = await loadModel(await testGpu(), folderSource(out), { slots: 4, maxLen: 128, maxRows: 128 });
    const judge = rewardModelJudge(m, 'trained');
    for (const row of rows) {
      const [c, rj] = await judge.score([
        { instruction: row.prompt, response: row.chosen },
        { instruction: row.prompt, response: row.rejected },
      ]);
      expect(c!).toBeGreaterThan(rj!);
    }
    m.destroy();
    // without --full: LoRA over a bf16 base and the whole score head, a PEFT adapter folder that
    // `tpo judge --judge rm:<adapter>` loads over its base
    const adapterDir = join(work, 'adapter');
    const lora = ['--out', adapterDir, '--dtype', 'bf16', '--lr', '2e-2', '--epochs', '30', '--batch-size', '3'];
    const rl = await tpo([...args.slice(0, -2), ...lora, '--lora-r', '4', '--json']);
    expect(rl.code ?? 0, rl.stderr).toBe(0);
    expect(rl.stderr).toMatch(/adapter \(LoRA \+ score head\) written/);
    const loraSteps = rl.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(loraSteps.at(-1).accuracy).toBe(1);
    const ac = JSON.parse(readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8'));
    expect([ac.task_type, ac.modules_to_save, ac.base_model_name_or_path]).toEqual(['SEQ_CLS', ['score'], rmDir]);
    const items = rows.flatMap((row) => [
      { instruction: row.prompt, response: row.chosen },
      { instruction: row.prompt, response: row.rejected },
    ]);
    writeFileSync(join(work, 'items.jsonl'), items.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const judged = await tpo(['judge', '--judge', `rm:${adapterDir}`, '--items', join(work, 'items.jsonl'), '--json']);
    expect(judged.code ?? 0, judged.stderr).toBe(0);
    const js = judged.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).score as number);
    expect(js).toHaveLength(6);
    for (let i = 0; i < 3; i++) expect(js[2 * i]).toBeGreaterThan(js[2 * i + 1]);
    const base = await tpo(['judge', '--judge', `rm:${rmDir}`, '--items', join(work, 'items.jsonl'), '--json']);
    expect(base.stdout).not.toEqual(judged.stdout); // the adapter, not the base, judged
    const lm = await tpo(['rm', '--model', STORIES, '--pairs', join(work, 'pairs.jsonl'), '--out', out, '--full']);
    expect(lm.code).toBe(2);
    expect(lm.stderr).toMatch(/not a one-label reward model/);
  });
});

describe('tpo dpo / sft', () => {
  it('QLoRA: --dtype q4 trains an adapter over the base quantized at load; it loads over the f32 base too', async () => {
    const { writeFileSync } = await import('node:fs');
    const work = mkdtempSync(join(tmpdir(), 'tpo-cli-qlora-'));
    const pairs = [
      { prompt_ids: [1, 403, 407], chosen_ids: [261, 263, 265], rejected_ids: [300, 301] },
      { prompt_ids: [1, 260], chosen_ids: [270, 271], rejected_ids: [310, 311, 312] },
    ];
    writeFileSync(join(work, 'pairs.jsonl'), pairs.map((p) => JSON.stringify(p)).join('\n') + '\n');
    const out = join(work, 'adapter');
    const train = ['dpo', '--model', STORIES, '--pairs', join(work, 'pairs.jsonl'), '--out', out];
    const opts = ['--lora-r', '4', '--lora-alpha', '8', '--lr', '5e-3', '--epochs', '4', '--batch-size', '2', '--json'];
    const r = await tpo([...train, ...opts, '--dtype', 'q4']);
    expect(r.code ?? 0, r.stderr).toBe(0);
    const steps = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(steps[0].loss).toBeCloseTo(Math.LN2, 4);
    expect(steps[3].loss).toBeLessThan(steps[0].loss);
    const gen = ['generate', '--model', STORIES, '--prompt-ids', '1,403,407', '--temperature', '0'];
    for (const dtype of ['q4', 'f32']) {
      const g = await tpo([...gen, '--max-new-tokens', '6', '--json', '--adapter', out, '--dtype', dtype]);
      expect(g.code ?? 0, g.stderr).toBe(0);
      expect(JSON.parse(g.stdout).token_ids).toHaveLength(6);
    }
    const bad = await tpo([...gen, '--dtype', 'q3']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--dtype q3: expected auto, f32, bf16, f16, q8, q4/);
    const full = await tpo([
      'sft',
      '--full',
      '--model',
      STORIES,
      '--data',
      join(work, 'pairs.jsonl'),
      '--out',
      join(work, 'f'),
      '--dtype',
      'q4',
    ]);
    expect(full.code).toBe(2);
    expect(full.stderr).toMatch(/--full trains every weight in f32/);
  });

  it('trains a LoRA adapter on stories260K from id rows, logs TRL metrics, and generate --adapter uses it', async () => {
    const { writeFileSync, existsSync } = await import('node:fs');
    const work = mkdtempSync(join(tmpdir(), 'tpo-cli-dpo-'));
    const pairs = [
      { prompt_ids: [1, 403, 407], chosen_ids: [261, 263, 265], rejected_ids: [300, 301] },
      { prompt_ids: [1, 260], chosen_ids: [270, 271], rejected_ids: [310, 311, 312] },
    ];
    writeFileSync(join(work, 'pairs.jsonl'), pairs.map((p) => JSON.stringify(p)).join('\n') + '\n');
    const out = join(work, 'adapter');
    const r = await tpo([
      'dpo',
      '--model',
      STORIES,
      '--pairs',
      join(work, 'pairs.jsonl'),
      '--out',
      out,
      '--lora-r',
      '4',
      '--lora-alpha',
      '8',
      '--lr',
      '5e-3',
      '--epochs',
      '4',
      '--batch-size',
      '2',
      '--beta',
      '0.5',
      '--json',
    ]);
    expect(r.code ?? 0, r.stderr).toBe(0);
    const steps = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(steps).toHaveLength(4);
    expect(Object.keys(steps[0]).sort()).toEqual(
      [
        'epoch',
        'grad_norm',
        'logits/chosen',
        'logits/rejected',
        'logps/chosen',
        'logps/rejected',
        'loss',
        'lr',
        'rewards/accuracies',
        'rewards/chosen',
        'rewards/margins',
        'rewards/rejected',
        'step',
      ].sort(),
    );
    expect(steps[0].loss).toBeCloseTo(Math.LN2, 4);
    expect(steps[3].loss).toBeLessThan(steps[0].loss);
    expect(existsSync(join(out, 'adapter_config.json')) && existsSync(join(out, 'adapter_model.safetensors'))).toBe(
      true,
    );
    const base = await tpo([
      'generate',
      '--model',
      STORIES,
      '--prompt-ids',
      '1,403,407',
      '--temperature',
      '0',
      '--max-new-tokens',
      '6',
      '--json',
    ]);
    const tuned = await tpo([
      'generate',
      '--model',
      STORIES,
      '--prompt-ids',
      '1,403,407',
      '--temperature',
      '0',
      '--max-new-tokens',
      '6',
      '--json',
      '--adapter',
      out,
    ]);
    expect(tuned.code ?? 0, tuned.stderr).toBe(0);
    expect(JSON.parse(tuned.stdout).token_ids).toHaveLength(6);
    expect(JSON.parse(base.stdout).token_ids).toHaveLength(6);

    // A second iteration from the first adapter as reference (TPO's M_t → M_t+1): starts at ln 2 again.
    const r2 = await tpo([
      'dpo',
      '--model',
      STORIES,
      '--pairs',
      join(work, 'pairs.jsonl'),
      '--out',
      join(work, 'adapter2'),
      '--ref-adapter',
      out,
      '--lr',
      '1e-3',
      '--json',
    ]);
    expect(r2.code ?? 0, r2.stderr).toBe(0);
    expect(JSON.parse(r2.stdout.trim().split('\n')[0]).loss).toBeCloseTo(Math.LN2, 4);

    const sft = await tpo(['sft', '--model', STORIES, '--data', join(work, 'pairs.jsonl'), '--out', join(work, 'sft')]);
    expect(sft.code).toBe(2);
    expect(sft.stderr).toMatch(/completion_ids|"prompt" and "completion"/);
  });

  it('sft --full trains every weight and writes a model folder that loads and generates', async () => {
    const { writeFileSync, existsSync } = await import('node:fs');
    const work = mkdtempSync(join(tmpdir(), 'tpo-cli-full-'));
    const rows = [
      { prompt_ids: [1, 403], completion_ids: [261, 263, 265, 267] },
      { prompt_ids: [1, 260], completion_ids: [270, 271, 272] },
    ];
    writeFileSync(join(work, 'data.jsonl'), rows.map((p) => JSON.stringify(p)).join('\n'));
    const out = join(work, 'model');
    const r = await tpo([
      'sft',
      '--full',
      '--model',
      STORIES,
      '--data',
      join(work, 'data.jsonl'),
      '--out',
      out,
      '--lr',
      '3e-3',
      '--epochs',
      '8',
      '--schedule',
      'constant',
      '--json',
    ]);
    expect(r.code ?? 0, r.stderr).toBe(0);
    const steps = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(steps).toHaveLength(8);
    expect(steps[7].loss).toBeLessThan(0.5 * steps[0].loss);
    expect(existsSync(join(out, 'model.safetensors')) && existsSync(join(out, 'config.json'))).toBe(true);
    // the saved model has learned the rows: greedy from the first prompt reproduces its completion
    const g = await tpo([
      'generate',
      '--model',
      out,
      '--prompt-ids',
      '1,403',
      '--temperature',
      '0',
      '--max-new-tokens',
      '4',
      '--json',
    ]);
    expect(g.code ?? 0, g.stderr).toBe(0);
    expect(JSON.parse(g.stdout).token_ids).toEqual([261, 263, 265, 267]);
    const dpoFull = await tpo(['dpo', '--full', '--model', STORIES, '--pairs', join(work, 'data.jsonl'), '--out', out]);
    expect(dpoFull.code).toBe(2);
    expect(dpoFull.stderr).toMatch(/--full is for tpo sft/);
  });
});
