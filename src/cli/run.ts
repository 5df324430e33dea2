// `tpo run`: TPO iterations on the GPU, recorded in a run folder and resumable.

import { readFile, writeFile } from 'node:fs/promises';
import { metricsToCsv } from '../tpo/export';
import { parseArgs } from 'node:util';
import type { Gpu } from '../gpu/device';
import { UsageError } from '../errors';
import { loadModel } from '../engine/model';
import { parseJsonl } from '../train/data';
import { DEFAULT_LORA, TARGETS, type Target } from '../train/lora';
import { DEFAULT_TRAIN } from '../train/trainer';
import { makeJudge } from './judge-arg';
import { checkPool, parseInstructions, runTpo, type TpoOptions } from '../tpo/loop';
import { BUILTIN_PROMPTS, customPrompt, DIRECT, type ThoughtPrompt } from '../tpo/prompts';
import { evalRun } from './eval';
import { join } from 'node:path';
import { folderStore } from '../tpo/store-node';
import { modelSource } from './model-arg';

export const RUN_HELP = `tpo run --prompts prompts.jsonl --out <run folder> [--model <folder|repo>] [--iterations 3] [--per-iteration N]
        [--samples 8] [--temperature 0.8] [--top-p 0.95] [--max-new-tokens 512]
        [--thought-prompt generic|specific|direct|FILE] [--separator TEXT]
        [--judge rules:<spec.json>|http:<url>#<model>|pairwise:<model>|rm:<model>] [--judge-mode pairwise|pointwise]
        [--length-penalty 0] [--beta 0.1] [--lr 5e-5] [--epochs 1] [--batch-size 2] [--lora-r 16] [--lora-alpha 32]
        [--max-length 1024] [--seed 0] [--validation 0] [--baseline] [--eval-prompts held-out.jsonl] [--resume] [--json]

  prompts.jsonl rows: {"instruction": "...", "id"?: "...", ...fields for the judge, e.g. "answer"}
  --thought-prompt FILE: a template containing {instruction}; --separator marks where the response starts.
  --judge rules:<spec.json>: a JSON list of rules (exact, numeric, regex, json, length, keywords; each with a weight).
  --judge http:<url>#<model>: an OpenAI-compatible endpoint (key in TPO_JUDGE_KEY, never written to the run).
  --judge pairwise:<model>: a local model judges every ordered pair, scores by Bradley–Terry.
  --judge rm:<model>: a local reward model (*ForSequenceClassification: Llama, Qwen2, Qwen3) scores each response.
  The run folder holds config.json, samples-<i>.jsonl, pairs-<i>.jsonl (TRL), adapter-<i>/ (PEFT), metrics-<i>.json, metrics.csv.
  --validation N: N prompts an iteration, fresh each iteration, from the end of the file and never trained on;
    after every DPO epoch the adapter answers them greedily, the judge ranks it against the other epochs and
    the iteration's starting model, and the best is kept (the paper's checkpoint selection; guards against
    over-optimised iterations). 0: the last epoch.
  --resume continues an interrupted run (or extends it with a larger --iterations).
  --baseline also trains the direct-response baseline the same way (no thought prompt) in <out>/baseline.
  --eval-prompts: afterwards, every iteration against the baseline on held-out instructions (see tpo eval).`;

const OPTIONS = {
  prompts: { type: 'string' },
  out: { type: 'string' },
  model: { type: 'string' },
  iterations: { type: 'string' },
  'per-iteration': { type: 'string' },
  samples: { type: 'string' },
  temperature: { type: 'string' },
  'top-p': { type: 'string' },
  'max-new-tokens': { type: 'string' },
  'thought-prompt': { type: 'string' },
  separator: { type: 'string' },
  judge: { type: 'string' },
  'judge-mode': { type: 'string' },
  'length-penalty': { type: 'string' },
  beta: { type: 'string' },
  lr: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  'lora-r': { type: 'string' },
  'lora-alpha': { type: 'string' },
  'target-modules': { type: 'string' },
  'max-length': { type: 'string' },
  seed: { type: 'string' },
  'hub-url': { type: 'string' },
  resume: { type: 'boolean' },
  json: { type: 'boolean' },
  baseline: { type: 'boolean' },
  'eval-prompts': { type: 'string' },
  validation: { type: 'string' },
} as const;

function num(v: unknown, fallback: number, what: string, min = 0, integer = false): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
    throw new UsageError(`--${what} ${String(v)}: expected ${integer ? 'an integer' : 'a number'} ≥ ${min}`);
  return n;
}

async function thoughtPrompt(spec: string | undefined, separator: string | undefined): Promise<ThoughtPrompt> {
  const name = spec ?? 'generic';
  if (BUILTIN_PROMPTS[name]) return BUILTIN_PROMPTS[name];
  let text: string;
  try {
    text = await readFile(name, 'utf8');
  } catch {
    throw new UsageError(`--thought-prompt ${name}: not generic, specific, direct, or a readable file`);
  }
  return customPrompt(text.replace(/\n$/, ''), separator, undefined, name);
}

export async function runCommand(argv: string[], gpu: Gpu): Promise<void> {
  const { values: a } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  if (!a.prompts) throw new UsageError('tpo run needs --prompts <prompts.jsonl>');
  if (!a.out) throw new UsageError('tpo run needs --out <run folder>');
  if (!a.judge) throw new UsageError('tpo run needs --judge', 'e.g. --judge rules:judge.json');
  const store = await folderStore(a.out);
  const stored = await store.readConfig();
  if (stored && !a.resume)
    throw new UsageError(`${a.out} already holds a run`, 'Pass --resume to continue it, or choose another --out.');
  const pool = parseInstructions(
    parseJsonl<Record<string, unknown>>(
      await readFile(a.prompts, 'utf8').catch((e) => {
        throw new UsageError(`cannot read ${a.prompts}: ${e.message}`);
      }),
      a.prompts,
    ),
  );
  const iterations = num(a.iterations, 3, 'iterations', 1, true);
  const validation = num(a.validation, 0, 'validation', 0, true);
  const targets = (a['target-modules'] ?? TARGETS.join(',')).split(',') as Target[];
  const fresh: TpoOptions = {
    prompt: await thoughtPrompt(a['thought-prompt'], a.separator),
    samples: num(a.samples, 8, 'samples', 2, true),
    temperature: num(a.temperature, 0.8, 'temperature'),
    topP: num(a['top-p'], 0.95, 'top-p'),
    seed: num(a.seed, 0, 'seed', 0, true),
    maxNewTokens: num(a['max-new-tokens'], 512, 'max-new-tokens', 1, true),
    perIteration: num(
      a['per-iteration'],
      Math.max(1, Math.floor(pool.length / iterations) - validation),
      'per-iteration',
      1,
      true,
    ),
    rho: num(a['length-penalty'], 0, 'length-penalty'),
    lora: {
      ...DEFAULT_LORA,
      r: num(a['lora-r'], 16, 'lora-r', 1, true),
      alpha: num(a['lora-alpha'], 32, 'lora-alpha'),
      targets,
    },
    train: {
      ...DEFAULT_TRAIN,
      beta: num(a.beta, 0.1, 'beta'),
      lr: num(a.lr, 5e-5, 'lr'),
      epochs: num(a.epochs, 1, 'epochs', 1, true),
      batchSize: num(a['batch-size'], 2, 'batch-size', 1, true),
    },
    maxLength: num(a['max-length'], 1024, 'max-length', 2, true),
    baseModel: a.model ?? 'tpo-demo',
    validation,
  };
  // A resumed run keeps its recorded settings; only the number of iterations may grow.
  const o: TpoOptions = stored ? (stored.options as TpoOptions) : fresh;
  checkPool(pool.length, o, iterations); // before anything is written
  if (!stored)
    await store.writeConfig({
      options: o,
      judge: a.judge,
      prompts: a.prompts,
      model: a.model ?? null,
      created: new Date().toISOString(),
    });
  const model = await loadModel(gpu, await modelSource(a.model, { hubUrl: a['hub-url'] }), {
    slots: Math.max(o.samples, 8),
    maxLen: Math.min(4096, o.maxLength + o.maxNewTokens),
  });
  if (!model.tokenizer)
    throw new UsageError(
      'TPO needs a model with a tokenizer (tokenizer.json)',
      'stories260K has none: pass --model with a chat model (the default, tpo-demo, has one).',
    );
  const judge = await makeJudge(String(stored?.judge ?? a.judge), a['judge-mode'], gpu, a['hub-url']);
  const tty = process.stderr.isTTY;
  const progress = (tag: string) => {
    let stageKey = '',
      stageStart = 0,
      startDone = 0;
    return (p: { iteration: number; stage: string; done: number; total: number }) => {
      const key = `${p.iteration}.${p.stage}`;
      if (key !== stageKey) {
        stageKey = key;
        stageStart = performance.now();
        startDone = p.done;
      }
      const rate = (p.done - startDone) / Math.max(1e-3, (performance.now() - stageStart) / 1000);
      const eta = rate > 0 && p.done < p.total ? ` ETA ${Math.ceil((p.total - p.done) / rate)}s` : '';
      const width = 20,
        filled = p.total ? Math.round((width * p.done) / p.total) : 0;
      const bar = tty ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ` : '';
      const line = `${tag}iteration ${p.iteration} ${p.stage} ${bar}${p.done}/${p.total}${eta}`;
      if (tty) process.stderr.write(`\r${line}\x1b[K`);
      else if (p.done === p.total || p.done === 0) process.stderr.write(line + '\n');
    };
  };
  const metrics = await runTpo({ model, judge, store, onProgress: progress('') }, pool, o, iterations);
  const baselineDir = join(a.out, 'baseline');
  if (a.baseline) {
    // The fair comparison: the same loop, judge and loss, but no thought prompt.
    const bStore = await folderStore(baselineDir);
    const bOpts: TpoOptions = { ...o, prompt: DIRECT };
    if (!(await bStore.readConfig()))
      await bStore.writeConfig({
        options: bOpts,
        judge: a.judge,
        prompts: a.prompts,
        model: a.model ?? null,
        created: new Date().toISOString(),
      });
    await runTpo({ model, judge, store: bStore, onProgress: progress('baseline ') }, pool, bOpts, iterations);
  }
  if (tty) process.stderr.write('\n');
  await writeFile(join(a.out, 'metrics.csv'), metricsToCsv(metrics));
  for (const m of metrics) {
    const { dpo, ...rest } = m;
    const last = dpo[dpo.length - 1];
    if (a.json) process.stdout.write(JSON.stringify({ ...rest, dpo_last: last ?? null }) + '\n');
    else
      process.stdout.write(
        `iteration ${m.iteration}: ${m.pairs} pairs (${m.skipped_all_tied} tied), parse failures ${(100 * m.parse_failure_rate).toFixed(1)}%, mean score ${m.mean_score.toFixed(3)}, thought ${m.mean_thought_chars.toFixed(0)} chars, response ${m.mean_response_chars.toFixed(0)} chars${last ? `, DPO loss ${last.loss.toFixed(4)} acc ${last['rewards/accuracies']?.toFixed(2)}` : ''}${m.selection ? `, kept epoch ${m.selection.chosen_epoch} of ${m.selection.candidates.length - 1} (validation win share ${m.selection.candidates.find((c) => c.epoch === m.selection!.chosen_epoch)!.win_share.toFixed(2)})` : ''}\n`,
      );
  }
  if (a['eval-prompts']) {
    const items = parseInstructions(
      parseJsonl<Record<string, unknown>>(await readFile(a['eval-prompts'], 'utf8'), a['eval-prompts']),
    );
    for (const r of await evalRun(
      model,
      judge,
      a.out,
      a.baseline ? baselineDir : undefined,
      items,
      o.maxNewTokens,
      0,
    )) {
      process.stdout.write(
        a.json
          ? JSON.stringify({ eval: r }) + '\n'
          : `eval ${r.iteration}: win ${(100 * r.win_rate).toFixed(1)}% [${(100 * r.win_rate_ci95[0]).toFixed(1)}, ${(100 * r.win_rate_ci95[1]).toFixed(1)}] LC ${(100 * r.lc_win_rate).toFixed(1)}% parse failures ${(100 * r.parse_failure_rate).toFixed(1)}%\n`,
      );
    }
  }
  model.destroy();
}
