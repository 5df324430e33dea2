// `tpo dpo` and `tpo sft`: LoRA training from TRL-format JSONL, writing a PEFT adapter folder.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Gpu } from '../gpu/device';
import { UsageError } from '../errors';
import { loadCheckpoint, type Checkpoint } from '../model/checkpoint';
import { loadTokenizer, type Tokenizer } from '../model/tokenizer';
import type { ModelSource } from '../model/source';
import { writeModelFolder } from '../model/folder-node';
import { FullParams } from '../train/full';
import { chooseWeightType, destroyWeights, uploadWeights } from '../engine/weights';
import { readF32 } from '../gpu/readback';
import { LoraLayout, LoraState } from '../train/lora';
import { type AdapterFiles, loadAdapter, saveAdapter } from '../train/peft';
import { parseJsonl, tokenizePairs, tokenizeRewardPairs, tokenizeSft } from '../train/data';
import { Trainer, type StepMetrics, type TrainOptions } from '../train/trainer';
import { DTYPE_HELP, dtypeFlag, modelSource } from './model-arg';

import { loraFromFlags, TRAIN_FLAGS_HELP, TRAIN_OPTIONS, trainFromFlags, truncationFromFlags } from './train-flags';

export const TRAIN_HELP = `tpo dpo --pairs pairs.jsonl --out <adapter folder> [--model <folder|repo>] [--ref-adapter DIR] [--beta 0.1]
        [--label-smoothing 0] [training flags] [--json]
tpo sft --data data.jsonl --out <adapter folder> [--model <folder|repo>] [--full] [training flags] [--json]
        [--dtype auto|f32|bf16|f16|q8|q4]
tpo rm --pairs pairs.jsonl --out <adapter folder> --model <reward model> [--full] [training flags] [--json]
        [--dtype auto|f32|bf16|f16|q8|q4]

  training flags: ${TRAIN_FLAGS_HELP}
  pairs: TRL rows {"prompt","chosen","rejected"} (strings or message lists); sft rows {"prompt","completion"} or
  {"messages"}; without a tokenizer, rows of ids: {"prompt_ids","chosen_ids","rejected_ids"} / {"prompt_ids","completion_ids"}.
  --ref-adapter: the reference model is base + this adapter, and the policy starts from it (TPO's M_t → M_t+1).
  --full (sft): train every weight of a small model and write a complete model folder to --out.
  rm: a *ForSequenceClassification model (num_labels 1) trained as TRL's RewardTrainer: loss −log σ(r_c − r_r − margin)
    with r the score head at the last token: a LoRA adapter and the whole score head (PEFT task_type SEQ_CLS,
    modules_to_save ["score"]; --dtype sets the frozen base), or with --full every weight of a small f32 model,
    written as a model folder; rows {"chosen","rejected"} (texts or message lists; with a "prompt",
    each side is [user: prompt, assistant: answer] as the rm: judge scores it), optional "margin", or ids rows
    {"chosen_ids","rejected_ids"}; pairs over --max-length are dropped; logs loss, accuracy, margin, min/mean/max_reward.
  --dtype: the frozen base under the adapter, ${DTYPE_HELP}. An adapter trained over a q4 base
    (QLoRA) is an ordinary PEFT adapter: it loads over the 16-bit base too.
  Truncation (dpo) follows TRL: the prompt keeps its last --max-prompt-length tokens, a completion its first
  --max-completion-length, then a sequence over --max-length keeps its end (keep_end) or its start (keep_start).
  Each epoch visits the rows in a fresh order drawn from --seed (as HF's Trainer shuffles).
  --json: one JSON line per optimizer step with TRL's metric names.`;

/** The command's flags (the docs test checks every documented flag against them). */
export const OPTIONS = {
  model: { type: 'string' },
  out: { type: 'string' },
  pairs: { type: 'string' },
  data: { type: 'string' },
  'ref-adapter': { type: 'string' },
  ...TRAIN_OPTIONS,
  'hub-url': { type: 'string' },
  revision: { type: 'string' },
  json: { type: 'boolean' },
  full: { type: 'boolean' },
  dtype: { type: 'string' },
} as const;

export async function trainCommand(kind: 'dpo' | 'sft', argv: string[], gpu: Gpu): Promise<void> {
  const { values: a } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  if (a.full && kind !== 'sft') throw new UsageError('--full is for tpo sft', 'DPO trains a LoRA adapter.');
  const dtype = dtypeFlag(a.dtype);
  if (a.full && dtype !== 'auto' && dtype !== 'f32')
    throw new UsageError(`--full trains every weight in f32: --dtype ${dtype} does not apply`, 'Drop --dtype.');
  const input = kind === 'dpo' ? a.pairs : a.data;
  if (!input) throw new UsageError(`tpo ${kind} needs ${kind === 'dpo' ? '--pairs' : '--data'} <file.jsonl>`);
  if (!a.out) throw new UsageError(`tpo ${kind} needs --out <adapter folder>`);
  const o = trainFromFlags(a);
  const trunc = truncationFromFlags(a);
  const maxLength = trunc.maxLength;
  const seed = o.seed;

  const src = await modelSource(a.model, { hubUrl: a['hub-url'], revision: a.revision });
  const ck = await loadCheckpoint(src);
  const tok = await loadTokenizer(src);
  const cfg = ck.config;
  const eos = tok?.eosTokenIds[0] ?? cfg.eosTokenIds[0];
  let text: string;
  try {
    text = await readFile(input, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${input}: ${(e as Error).message}`);
  }
  const rows = parseJsonl<Record<string, unknown>>(text, input);

  let layout: LoraLayout;
  let init: Float32Array;
  let refValues: Float32Array | undefined;
  if (a['ref-adapter']) {
    const dir = a['ref-adapter'];
    const ref = loadAdapter(
      cfg,
      await readFile(join(dir, 'adapter_config.json')),
      await readFile(join(dir, 'adapter_model.safetensors')),
      { baseModel: a.model },
    );
    layout = ref.layout;
    init = ref.values.slice();
    refValues = ref.values;
  } else {
    layout = new LoraLayout(cfg, loraFromFlags(a));
    init = layout.init(seed);
  }

  if (a.full) return fullSft(gpu, ck, src, rows, tok, eos, maxLength, o, a.out, a.json ?? false);
  const weights = uploadWeights(gpu, ck, chooseWeightType(ck, dtype));
  const state = new LoraState(gpu.device, layout, init);
  const report = reporter(a.json ?? false);
  const t0 = performance.now();
  let trainer: Trainer;
  if (kind === 'dpo') {
    const pairs = tokenizePairs(rows, tok, eos, trunc);
    const T = Math.max(...pairs.flatMap((p) => [p.chosen.ids.length, p.rejected.ids.length]));
    trainer = new Trainer(gpu, cfg, weights, { lora: { layout, state }, seqs: 2 * o.batchSize, seqLen: T });
    const ref = await trainer.referenceLogps(pairs, o, refValues, init);
    await trainer.dpo(pairs, ref, o, report);
  } else {
    const seqs = tokenizeSft(rows, tok, eos, maxLength);
    const seqLen = Math.max(...seqs.map((s) => s.ids.length));
    trainer = new Trainer(gpu, cfg, weights, { lora: { layout, state }, seqs: o.batchSize, seqLen });
    await trainer.sft(seqs, o, report);
  }
  const values = await readF32(gpu.device, state.params, layout.length);
  await writeAdapterFolder(a.out, saveAdapter(layout, values, a.model ?? 'stories260K'));
  process.stderr.write(
    `tpo: ${rows.length} rows, ${((performance.now() - t0) / 1000).toFixed(1)} s; adapter written to ${a.out}\n`,
  );
  trainer.destroy();
  state.destroy();
  destroyWeights(weights);
}

function reporter(json: boolean) {
  return (m: StepMetrics) => {
    if (json) process.stdout.write(JSON.stringify(m) + '\n');
    else {
      const acc = m['rewards/accuracies'] ?? m.accuracy;
      const margin = m['rewards/margins'] ?? m.margin;
      const extra = acc !== undefined ? ` acc ${acc.toFixed(2)} margin ${margin!.toFixed(4)}` : '';
      const at = `step ${m.step} epoch ${m.epoch.toFixed(2)} loss ${m.loss.toFixed(4)}${extra}`;
      process.stdout.write(`${at} lr ${m.lr.toExponential(2)} grad_norm ${m.grad_norm.toFixed(4)}\n`);
    }
  };
}

/** SFT of every weight (small f32 models); writes a complete model folder. */
async function fullSft(
  gpu: Gpu,
  ck: Checkpoint,
  src: ModelSource,
  rows: Record<string, unknown>[],
  tok: Tokenizer | null,
  eos: number | undefined,
  maxLength: number,
  o: TrainOptions,
  out: string,
  json: boolean,
): Promise<void> {
  const cfg = ck.config;
  const seqs = tokenizeSft(rows, tok, eos, maxLength);
  const weights = uploadWeights(gpu, ck, 'f32');
  const full = new FullParams(gpu.device, cfg, weights);
  const seqLen = Math.max(...seqs.map((s) => s.ids.length));
  const trainer = new Trainer(gpu, cfg, weights, { full, seqs: o.batchSize, seqLen });
  const t0 = performance.now();
  await trainer.sft(seqs, o, reporter(json));
  await writeModelFolder(out, src, cfg, await full.download());
  process.stderr.write(
    `tpo: ${rows.length} rows, ${((performance.now() - t0) / 1000).toFixed(1)} s; model written to ${out}\n`,
  );
  trainer.destroy();
  full.destroy();
  destroyWeights(weights);
}

/**
 * `tpo rm`: reward-model training with TRL RewardTrainer semantics on a *ForSequenceClassification
 * model: a LoRA adapter plus the whole score head (PEFT's modules_to_save; the base may be 16-bit or
 * quantized), written as a PEFT adapter folder; or every weight of a small f32 model (--full),
 * written as a model folder.
 */
export async function rmCommand(argv: string[], gpu: Gpu): Promise<void> {
  const { values: a } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  if (!a.pairs) throw new UsageError('tpo rm needs --pairs <pairs.jsonl>', 'Rows {"chosen","rejected"} (TRL).');
  if (!a.out) throw new UsageError(`tpo rm needs --out <${a.full ? 'model' : 'adapter'} folder>`);
  if (!a.model) throw new UsageError('tpo rm needs --model <reward model>', 'A *ForSequenceClassification checkpoint.');
  const dtype = dtypeFlag(a.dtype);
  if (a.full && dtype !== 'auto' && dtype !== 'f32')
    throw new UsageError(`--full trains every weight in f32: --dtype ${dtype} does not apply`, 'Drop --dtype.');
  const o = trainFromFlags(a);
  const maxLength = truncationFromFlags(a).maxLength;
  const src = await modelSource(a.model, { hubUrl: a['hub-url'], revision: a.revision });
  const ck = await loadCheckpoint(src);
  const cfg = ck.config;
  if (cfg.head !== 'score' || cfg.numLabels !== 1)
    throw new UsageError(
      `${a.model} is not a one-label reward model`,
      'Give a *ForSequenceClassification checkpoint with num_labels 1 (config.json "architectures").',
    );
  const rows = parseJsonl<Record<string, unknown>>(
    await readFile(a.pairs, 'utf8').catch((e: Error) => {
      throw new UsageError(`cannot read ${a.pairs}: ${e.message}`);
    }),
    a.pairs,
  );
  const { pairs, dropped } = tokenizeRewardPairs(rows, await loadTokenizer(src), maxLength);
  if (dropped) process.stderr.write(`tpo: ${dropped} pair(s) over --max-length ${maxLength} tokens dropped (as TRL)\n`);
  if (!pairs.length) throw new UsageError(`no pair fits --max-length ${maxLength}`, 'Raise --max-length.');
  const weights = uploadWeights(gpu, ck, a.full ? 'f32' : chooseWeightType(ck, dtype));
  const lora = a.full ? null : new LoraLayout(cfg, loraFromFlags(a));
  const state = lora && new LoraState(gpu.device, lora, lora.init(o.seed));
  const full = new FullParams(gpu.device, cfg, weights, lora ? ['score.weight'] : undefined);
  const T = Math.max(...pairs.flatMap((p) => [p.chosen.length, p.rejected.length]));
  const trainer = new Trainer(gpu, cfg, weights, {
    ...{ lora: lora && state ? { layout: lora, state } : undefined, full, seqs: 2 * o.batchSize, seqLen: T },
  });
  const t0 = performance.now();
  await trainer.rm(pairs, o, reporter(a.json ?? false));
  const trained = await full.download();
  if (lora && state) {
    const score = { name: 'score.weight' as const, shape: [cfg.numLabels, cfg.hidden] as [number, number] };
    const values = await readF32(gpu.device, state.params, lora.length);
    await writeAdapterFolder(a.out, saveAdapter(lora, values, a.model, { ...score, data: trained.get(score.name)! }));
  } else await writeModelFolder(a.out, src, cfg, trained);
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  const what = lora ? 'adapter (LoRA + score head)' : 'reward model';
  process.stderr.write(`tpo: ${pairs.length} pairs, ${secs} s; ${what} written to ${a.out}\n`);
  trainer.destroy();
  full.destroy();
  state?.destroy();
  destroyWeights(weights);
}

async function writeAdapterFolder(out: string, files: AdapterFiles): Promise<void> {
  await mkdir(out, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(out, name), bytes);
}

/** Reads a PEFT adapter folder for `generate --adapter`. */
export async function readAdapterFolder(dir: string): Promise<{ config: Uint8Array; weights: Uint8Array }> {
  try {
    return {
      config: await readFile(join(dir, 'adapter_config.json')),
      weights: await readFile(join(dir, 'adapter_model.safetensors')),
    };
  } catch (e) {
    throw new UsageError(
      `--adapter ${dir}: ${(e as Error).message}`,
      'An adapter folder holds adapter_config.json and adapter_model.safetensors.',
    );
  }
}
