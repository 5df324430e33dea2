// `npm run train:demo`: trains the embedded demo model from scratch with the project's own engine.
// Seeded and reproducible on a given GPU/driver: draws the task suite, learns the tokenizer's BPE
// merges from the SFT corpus, initialises a small Llama, runs full-parameter SFT on the corpus
// (AdamW, warmup + cosine), logs the loss curve, measures held-out accuracy with and without the
// thought prompt, and writes a complete Hugging Face model folder with a model card.
//
//   npm run train:demo -- [--out public/models/tpo-demo] [--seed 1] [--tasks 9500] [--epochs 1]
//                         [--hidden 64] [--layers 4] [--kv-heads 1] [--untied] [--lr 4e-3] [--batch 4] [--quick]
//                         [--init DIR] [--rambling 0.45] [--guess-right 0.5]
// --init continues training a model folder this script wrote (its tokenizer, shape and weights are
// kept; its loss curve and its stage records, training_stages.json, are extended) over the same
// training split with a fresh warmup + cosine schedule: another stage, as reproducible as the
// first. (Not on fresh tasks: the suite's small families — letter counting, unit conversion — have
// few distinct instructions, and a later slice of the split holds almost none of them, so the model
// forgets them; measured once.) --rambling sets the corpus's share of rambling thoughts (the other
// styles fill the rest in STYLE_MIX's ratios) and --guess-right the share of guesses (rambling or
// short) that are the right answer, the rest being near misses; each stage records its own.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cliGpu } from '../cli/gpu';
import { UsageError } from '../errors';
import { loadCheckpoint } from '../model/checkpoint';
import { loadTokenizer } from '../model/tokenizer';
import { expectedTensors } from '../model/config';
import { writeSafetensors, type TensorToWrite } from '../model/safetensors';
import { uploadWeights, destroyWeights } from '../engine/weights';
import { loadModel } from '../engine/model';
import { FullParams } from '../train/full';
import { packSequences, tokenizeSft } from '../train/data';
import { DEFAULT_TRAIN, Trainer, type StepMetrics } from '../train/trainer';
import { DIRECT, GENERIC } from '../tpo/prompts';
import { folderSource } from '../model/source-node';
import { trainBpe } from './bpe';
import { completionPieces, GUESS_RIGHT, sftRows, STYLE_MIX, styleMix } from './corpus';
import { demoConfig, initTensors, memorySource, safetensorsBytes, type DemoShape } from './init';
import { digitLogprob, scoreTasks, type DemoScore } from './score';
import { DEMO_SEED, DEMO_SPLITS, makeSplits } from './tasks';
import { BYTE_VOCAB, byteTokenizerFiles, IM_END, SPECIAL } from './tokenizer';
import { modelCard } from './card';
import { parseStages, STAGES_FILE, tailLoss, type StageRecord } from './stages';

const OPTIONS = {
  out: { type: 'string' },
  seed: { type: 'string' },
  tasks: { type: 'string' },
  epochs: { type: 'string' },
  hidden: { type: 'string' },
  layers: { type: 'string' },
  lr: { type: 'string' },
  batch: { type: 'string' },
  vocab: { type: 'string' },
  quick: { type: 'boolean' },
  'eval-tasks': { type: 'string' },
  'kv-heads': { type: 'string' },
  untied: { type: 'boolean' },
  init: { type: 'string' },
  rambling: { type: 'string' },
  'guess-right': { type: 'string' },
} as const;

/** The files of a model folder that a later stage keeps as they are. */
const KEPT = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'];

/** What an --init folder brings: its files, its weights, its shape, its loss curve and its stage records so far. */
async function readStage(dir: string) {
  const stages = parseStages(await readFile(join(dir, STAGES_FILE), 'utf8').catch(() => null), dir);
  const files: Record<string, Uint8Array | string> = {};
  for (const name of [...KEPT, 'model.safetensors']) files[name] = new Uint8Array(await readFile(join(dir, name)));
  const c = JSON.parse(new TextDecoder().decode(files['config.json'] as Uint8Array));
  const merges: unknown[] = JSON.parse(new TextDecoder().decode(files['tokenizer.json'] as Uint8Array)).model.merges;
  const shape: DemoShape = {
    hidden: c.hidden_size,
    layers: c.num_hidden_layers,
    heads: c.num_attention_heads,
    kvHeads: c.num_key_value_heads,
    untied: !c.tie_word_embeddings,
    intermediate: c.intermediate_size,
    vocab: c.vocab_size,
    maxPositions: c.max_position_embeddings,
  };
  const log = (await readFile(join(dir, 'training_log.csv'), 'utf8')).trim().split('\n').slice(1);
  return { files, shape, merges: merges.length, log, stages };
}

export async function main(argv: string[]): Promise<number> {
  const { values: a } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  const out = a.out ?? 'public/models/tpo-demo';
  const seed = Number(a.seed ?? DEMO_SEED);
  const nTasks = Number(a.tasks ?? (a.quick ? 64 : DEMO_SPLITS.train));
  const epochs = Number(a.epochs ?? 1);
  const hidden = Number(a.hidden ?? 64);
  const prev = a.init ? await readStage(a.init) : null;
  if (prev && (a.hidden || a.layers || a['kv-heads'] || a.untied || a.vocab))
    throw new UsageError(
      '--init keeps the shape of the model it continues: leave out --hidden, --layers, --kv-heads, --untied and --vocab',
    );
  const shape: DemoShape = prev?.shape ?? {
    hidden,
    layers: Number(a.layers ?? 4),
    heads: hidden / 32,
    kvHeads: Number(a['kv-heads'] ?? Math.max(1, hidden / 64)),
    untied: a.untied ?? false,
    intermediate: hidden * 3,
    vocab: Number(a.vocab ?? 512),
    maxPositions: 512,
  };
  const batch = Number(a.batch ?? 4); // packed rows per step
  const T = 128; // packed row length
  const lr = Number(a.lr ?? 4e-3);
  const rambling = Number(a.rambling ?? STYLE_MIX[0][1]);
  if (!(rambling >= 0 && rambling < 1))
    throw new UsageError(`--rambling is a share of the thoughts in [0, 1), got ${a.rambling}`);
  const guessRight = Number(a['guess-right'] ?? GUESS_RIGHT);
  if (!(guessRight >= 0 && guessRight <= 1))
    throw new UsageError(`--guess-right is a share of the guesses in [0, 1], got ${a['guess-right']}`);
  const log = (s: string) => process.stderr.write(s + '\n');
  const gpu = await cliGpu(process.argv.slice(1));
  if (typeof gpu === 'number') return gpu;

  // 1. Data: the suite's splits (the held-out and TPO-pool splits are drawn first and never trained on).
  const splits = makeSplits(seed, { ...DEMO_SPLITS, train: nTasks });
  const rows = sftRows(splits.train, seed, undefined, styleMix(rambling), guessRight);

  // 2. Tokenizer: byte-level BPE whose merges are learned from the corpus text.
  // The text between ChatML special tokens, as the pre-tokenizer sees it; 1,000 rows are plenty.
  // The assistant turn's header and its content are separate pieces: training and generation
  // tokenise the prompt (ending "assistant\n") apart from the completion, so no merge may span them.
  // The thought's markers are pieces of their own too, so the way a thought starts is a choice of
  // the model's next token, never fused with the marker into one token.
  let files: Record<string, Uint8Array | string>, vocabUsed: number, merges: number;
  if (prev) {
    files = prev.files;
    merges = prev.merges;
    vocabUsed = BYTE_VOCAB + merges;
  } else {
    const corpus = rows
      .slice(0, 1000)
      .flatMap((r) => [`user\n${r.prompt[0].content}`, 'assistant\n', ...completionPieces(r.completion[0].content)]);
    const learned = trainBpe(corpus, shape.vocab - BYTE_VOCAB, { useRegex: false });
    const tokFiles = byteTokenizerFiles(learned, false);
    merges = learned.length;
    vocabUsed = BYTE_VOCAB + merges;
    shape.vocab = Math.ceil(vocabUsed / 64) * 64; // rows past the tokenizer's ids are never produced (their logits learn to stay low)
    const config = demoConfig(shape, IM_END, 256 + SPECIAL.indexOf('<|endoftext|>'));
    const genConfig = { eos_token_id: IM_END, pad_token_id: 256, do_sample: false };
    files = {
      'config.json': JSON.stringify(config, null, 2) + '\n',
      'generation_config.json': JSON.stringify(genConfig, null, 2) + '\n',
      ...tokFiles,
      'model.safetensors': safetensorsBytes(initTensors(shape, seed)),
    };
  }
  const src = memorySource(files, 'demo init');
  const tok = (await loadTokenizer(src))!;
  const all = tokenizeSft(
    rows.map((r) => ({ prompt: r.prompt, completion: r.completion })),
    tok,
    IM_END,
    shape.maxPositions,
  );
  const convs = all.filter((c) => c.ids.length <= T); // the few longest padded thoughts are dropped, not truncated
  const seqs = packSequences(convs, T);
  const tokens = convs.reduce((s, q) => s + q.ids.length, 0);
  log(
    `train:demo: ${convs.length} conversations (${all.length - convs.length} longer than ${T} dropped; ${tokens} tokens, mean ${(tokens / convs.length).toFixed(1)}, longest ${Math.max(...convs.map((c) => c.ids.length))}) packed into ${seqs.length} rows of ≤ ${T}; vocab ${vocabUsed} → ${shape.vocab} (${merges} merges), hidden ${shape.hidden} × ${shape.layers} layers`,
  );

  // 3. SFT of every weight (from the seeded init, or from --init's weights).
  const ck = await loadCheckpoint(src);
  const weights = uploadWeights(gpu, ck, 'f32');
  const full = new FullParams(gpu.device, ck.config, weights);
  const trainer = new Trainer(gpu, ck.config, weights, null, null, batch, T, full, { recompute: false });
  const steps = Math.ceil(seqs.length / batch) * epochs;
  const o = {
    ...DEFAULT_TRAIN,
    lr,
    epochs,
    batchSize: batch,
    warmupSteps: Math.min(100, Math.ceil(steps / 10)),
    schedule: 'cosine' as const,
    weightDecay: 0.01,
    maxGradNorm: 1,
  };
  const curve: StepMetrics[] = [];
  const t0 = performance.now();
  await trainer.sft(seqs, o, (m) => {
    curve.push(m);
    if (m.step % 10 === 0 || m.step === steps) {
      const s = (performance.now() - t0) / 1000;
      log(
        `step ${m.step}/${steps} loss ${m.loss.toFixed(4)} lr ${m.lr.toExponential(2)} grad_norm ${m.grad_norm.toFixed(3)}  ${s.toFixed(0)} s, ETA ${((s / m.step) * (steps - m.step)).toFixed(0)} s`,
      );
    }
  });
  const trainSeconds = (performance.now() - t0) / 1000;
  const values = await full.download();
  trainer.destroy();
  full.destroy();
  destroyWeights(weights);

  // 4. The model folder.
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, v] of values)
    tensors[name] = { dtype: 'F32', shape: expectedTensors(ck.config).get(name)!, data: v };
  files['model.safetensors'] = writeSafetensors(tensors, { format: 'pt' });
  await mkdir(out, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(out, name), bytes);
  // A continued model's curve goes on from the earlier stage's last step and epoch.
  const lastPrev = prev?.log.at(-1)?.split(',').map(Number) ?? [0, 0];
  const lines = curve.map((m) =>
    [
      lastPrev[0] + m.step,
      (lastPrev[1] + m.epoch).toFixed(4),
      m.loss.toFixed(5),
      m.lr.toExponential(4),
      m.grad_norm.toFixed(4),
    ].join(','),
  );
  await writeFile(
    join(out, 'training_log.csv'),
    ['step,epoch,loss,lr,grad_norm', ...(prev?.log ?? []), ...lines].join('\n') + '\n',
  );

  // 5. Held-out accuracy, greedy, with the thought prompt and without.
  const model = await loadModel(gpu, folderSource(out), { slots: 32, maxLen: 512, maxOut: 256 });
  const evalTasks = splits.heldOut.slice(0, Number(a['eval-tasks'] ?? (a.quick ? 14 : splits.heldOut.length)));
  const thought = await scoreTasks(model, evalTasks, GENERIC);
  const direct = await scoreTasks(model, evalTasks, DIRECT);
  const sampled = await scoreTasks(model, evalTasks, GENERIC, { temperature: 1, seed: 1 });
  const digits = await digitLogprob(model, evalTasks);
  model.destroy();
  const strip = ({ responses: _, scores: __, ...s }: DemoScore & { responses: string[]; scores: number[] }) => s;
  const results = {
    thought: strip(thought),
    direct: strip(direct),
    thought_sampled_t1: strip(sampled),
    digit_logprob: digits.all,
    copied_digit_logprob: digits.copied,
  };
  log(JSON.stringify(results, null, 1));
  await writeFile(join(out, 'eval.json'), JSON.stringify(results, null, 2) + '\n');
  const stages: StageRecord[] = [
    ...(prev?.stages ?? []),
    {
      stage: (prev?.stages.length ?? 0) + 1,
      steps,
      epochs,
      lr,
      batch,
      row_length: T,
      tasks: nTasks,
      seed,
      rambling_share: rambling,
      guess_right: guessRight,
      seconds: Math.round(trainSeconds),
      final_loss: Number(tailLoss(curve.map((m) => m.loss)).toFixed(4)),
      device: gpu.adapterName,
      eval: {
        thought_accuracy: thought.accuracy,
        direct_accuracy: direct.accuracy,
        digit_logprob: digits.all,
        copied_digit_logprob: digits.copied,
      },
    },
  ];
  await writeFile(join(out, STAGES_FILE), JSON.stringify(stages, null, 2) + '\n');
  await writeFile(
    join(out, 'README.md'),
    modelCard({
      shape,
      vocabUsed,
      merges,
      rows,
      conversations: convs.length,
      tokens,
      stages,
      results,
      evalTasks: evalTasks.length,
    }),
  );
  log(`train:demo: model written to ${out} (${trainSeconds.toFixed(0)} s of training)`);
  return 0;
}
