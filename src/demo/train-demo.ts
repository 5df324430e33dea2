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
import { flags } from '../cli/flags';
import type { Gpu } from '../gpu/device';
import type { ModelSource } from '../model/source';
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
import { digitLogprob, scoreTasks } from './score';
import { DEMO_SEED, DEMO_SPLITS, makeChainSuite, makeSplits, type Splits, suiteFlag, type Task } from './tasks';
import { BYTE_VOCAB, byteTokenizerFiles, IM_END, SPECIAL } from './tokenizer';
import { cardHistory, modelCard } from './card';
import { parseStages, STAGES_FILE, tailLoss, type StageRecord } from './stages';

/** The command's flags (the docs test checks every documented flag against them). */
export const OPTIONS = {
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
  suite: { type: 'string' },
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

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];
type Stage = Awaited<ReturnType<typeof readStage>>;
const log = (s: string) => process.stderr.write(`${s}\n`);

/** The stage's settings; everything is checked before the GPU starts. */
async function settings(a: Flags) {
  const num = flags(a);
  const prev = a.init ? await readStage(a.init) : null;
  if (prev && (a.hidden || a.layers || a['kv-heads'] || a.untied || a.vocab))
    throw new UsageError(
      '--init keeps the shape of the model it continues: leave out --hidden, --layers, --kv-heads, --untied and ' +
        '--vocab',
    );
  const hidden = num('hidden', 64, { integer: true, min: 32 });
  const shape: DemoShape = prev?.shape ?? {
    hidden,
    layers: num('layers', 4, { integer: true, min: 1 }),
    heads: hidden / 32,
    kvHeads: num('kv-heads', Math.max(1, hidden / 64), { integer: true, min: 1 }),
    untied: a.untied ?? false,
    intermediate: hidden * 3,
    vocab: num('vocab', 512, { integer: true, min: BYTE_VOCAB + 1 }),
    maxPositions: 512,
  };
  const rambling = Number(a.rambling ?? STYLE_MIX[0][1]);
  if (!(rambling >= 0 && rambling < 1))
    throw new UsageError(`--rambling is a share of the thoughts in [0, 1), got ${a.rambling}`);
  const guessRight = Number(a['guess-right'] ?? GUESS_RIGHT);
  if (!(guessRight >= 0 && guessRight <= 1))
    throw new UsageError(`--guess-right is a share of the guesses in [0, 1], got ${a['guess-right']}`);
  const suite = suiteFlag(a.suite, 'first');
  return {
    out: a.out ?? 'public/models/tpo-demo',
    suite,
    init: a.init,
    seed: num('seed', DEMO_SEED, { integer: true, min: 0 }),
    nTasks: num('tasks', a.quick ? 64 : suite === 'chains' ? Infinity : DEMO_SPLITS.train, { integer: true, min: 1 }),
    epochs: num('epochs', 1, { integer: true, min: 1 }),
    batch: num('batch', 4, { integer: true, min: 1 }), // packed rows per step
    lr: num('lr', 4e-3, { min: 0 }),
    evalTasks: a['eval-tasks'] === undefined ? undefined : num('eval-tasks', 0, { integer: true, min: 1 }),
    quick: !!a.quick,
    T: 128, // packed row length
    ...{ prev, shape, rambling, guessRight },
  };
}
type Settings = Awaited<ReturnType<typeof settings>>;

/**
 * The model folder's files before training: --init's, or a fresh byte-level BPE tokenizer whose
 * merges are learned from the corpus text, its config and seeded weights. The text between ChatML
 * special tokens is what the pre-tokenizer sees; 1,000 rows are plenty. The assistant turn's
 * header and its content are separate pieces: training and generation tokenise the prompt (ending
 * "assistant\n") apart from the completion, so no merge may span them. The thought's markers are
 * pieces of their own too, so the way a thought starts is a choice of the model's next token,
 * never fused with the marker into one token.
 */
function modelFiles(st: Settings, rows: ReturnType<typeof sftRows>) {
  const { prev, shape } = st;
  if (prev) return { files: prev.files, merges: prev.merges, vocabUsed: BYTE_VOCAB + prev.merges };
  const corpus = rows
    .slice(0, 1000)
    .flatMap((r) => [`user\n${r.prompt[0].content}`, 'assistant\n', ...completionPieces(r.completion[0].content)]);
  const learned = trainBpe(corpus, shape.vocab - BYTE_VOCAB, { useRegex: false });
  const vocabUsed = BYTE_VOCAB + learned.length;
  // rows past the tokenizer's ids are never produced (their logits learn to stay low)
  shape.vocab = Math.ceil(vocabUsed / 64) * 64;
  const config = demoConfig(shape, IM_END, 256 + SPECIAL.indexOf('<|endoftext|>'));
  const genConfig = { eos_token_id: IM_END, pad_token_id: 256, do_sample: false };
  const files: Record<string, Uint8Array | string> = {
    'config.json': `${JSON.stringify(config, null, 2)}\n`,
    'generation_config.json': `${JSON.stringify(genConfig, null, 2)}\n`,
    ...byteTokenizerFiles(learned, false),
    'model.safetensors': safetensorsBytes(initTensors(shape, st.seed)),
  };
  return { files, merges: learned.length, vocabUsed };
}

/** Full-parameter SFT of every weight; returns the loss curve, the trained tensors and the time. */
async function sft(gpu: Gpu, src: ModelSource, seqs: ReturnType<typeof packSequences>, st: Settings) {
  const ck = await loadCheckpoint(src);
  const weights = uploadWeights(gpu, ck, 'f32');
  const full = new FullParams(gpu.device, ck.config, weights);
  const trainer = new Trainer(gpu, ck.config, weights, { full, seqs: st.batch, seqLen: st.T, recompute: false });
  const steps = Math.ceil(seqs.length / st.batch) * st.epochs;
  const o = {
    ...DEFAULT_TRAIN,
    ...{ lr: st.lr, epochs: st.epochs, batchSize: st.batch },
    warmupSteps: Math.min(100, Math.ceil(steps / 10)),
    schedule: 'cosine' as const,
    weightDecay: 0.01,
    maxGradNorm: 1,
    seed: st.seed,
  };
  const curve: StepMetrics[] = [];
  const t0 = performance.now();
  await trainer.sft(seqs, o, (m) => {
    curve.push(m);
    if (m.step % 10 !== 0 && m.step !== steps) return;
    const s = (performance.now() - t0) / 1000;
    const eta = ((s / m.step) * (steps - m.step)).toFixed(0);
    const at = `loss ${m.loss.toFixed(4)} lr ${m.lr.toExponential(2)} grad_norm ${m.grad_norm.toFixed(3)}`;
    log(`step ${m.step}/${steps} ${at}  ${s.toFixed(0)} s, ETA ${eta} s`);
  });
  const seconds = (performance.now() - t0) / 1000;
  const values = await full.download();
  trainer.destroy();
  full.destroy();
  destroyWeights(weights);
  return { curve, values, seconds, steps, config: ck.config };
}

/** The trained weights and the loss curve (a continued model's goes on from the earlier stage's last step). */
async function writeModel(
  out: string,
  files: Record<string, Uint8Array | string>,
  trained: Trained,
  prev: Stage | null,
) {
  const tensors: Record<string, TensorToWrite> = {};
  const shapes = expectedTensors(trained.config);
  for (const [name, v] of trained.values)
    tensors[name] = { dtype: 'F32', shape: shapes.get(name) ?? [v.length], data: v };
  files['model.safetensors'] = writeSafetensors(tensors, { format: 'pt' });
  await mkdir(out, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(out, name), bytes);
  const lastPrev = prev?.log.at(-1)?.split(',').map(Number) ?? [0, 0];
  const lines = trained.curve.map((m) =>
    [
      lastPrev[0] + m.step,
      (lastPrev[1] + m.epoch).toFixed(4),
      m.loss.toFixed(5),
      m.lr.toExponential(4),
      m.grad_norm.toFixed(4),
    ].join(','),
  );
  const csv = ['step,epoch,loss,lr,grad_norm', ...(prev?.log ?? []), ...lines].join('\n');
  await writeFile(join(out, 'training_log.csv'), `${csv}\n`);
}
type Trained = Awaited<ReturnType<typeof sft>>;

/** Held-out accuracy, greedy, with the thought prompt and without; sampled at T = 1; digit log-probs. */
async function evaluateStage(gpu: Gpu, out: string, tasks: Task[]) {
  const model = await loadModel(gpu, folderSource(out), { slots: 32, maxLen: 512, maxOut: 256 });
  const thought = await scoreTasks(model, tasks, GENERIC);
  const direct = await scoreTasks(model, tasks, DIRECT);
  const sampled = await scoreTasks(model, tasks, GENERIC, { temperature: 1, seed: 1 });
  const digits = await digitLogprob(model, tasks);
  model.destroy();
  const strip = ({
    responses: _,
    scores: __,
    thoughts: ___,
    correct: ____,
    ...s
  }: Awaited<ReturnType<typeof scoreTasks>>) => s;
  return {
    thought: strip(thought),
    direct: strip(direct),
    thought_sampled_t1: strip(sampled),
    digit_logprob: digits.all,
    copied_digit_logprob: digits.copied,
  };
}

/** The suite's first `n` training tasks (its splits are fixed; --tasks only shortens the stage). */
const trimTrain = (s: Splits, n: number): Splits => ({ ...s, train: s.train.slice(0, n) });

export async function main(argv: string[]): Promise<number> {
  const { values: a } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  const st = await settings(a);
  const gpu = await cliGpu(process.argv.slice(1));
  if (typeof gpu === 'number') return gpu;

  // 1. Data: the suite's splits (the held-out and TPO-pool splits are drawn first and never trained on).
  const splits =
    st.suite === 'chains'
      ? trimTrain(makeChainSuite(), st.nTasks)
      : makeSplits(st.seed, { ...DEMO_SPLITS, train: st.nTasks });
  st.nTasks = splits.train.length;
  const rows = sftRows(splits.train, st.seed, undefined, styleMix(st.rambling), st.guessRight);
  // 2. The tokenizer and the model folder's other files.
  const { files, merges, vocabUsed } = modelFiles(st, rows);
  const src = memorySource(files, 'demo init');
  const tok = await loadTokenizer(src);
  if (!tok) throw new Error('the demo model folder has no tokenizer');
  const conversations = rows.map((r) => ({ prompt: r.prompt, completion: r.completion }));
  const all = tokenizeSft(conversations, tok, IM_END, st.shape.maxPositions);
  const convs = all.filter((c) => c.ids.length <= st.T); // the few longest padded thoughts are dropped, not truncated
  const seqs = packSequences(convs, st.T);
  const tokens = convs.reduce((s, q) => s + q.ids.length, 0);
  const longest = Math.max(...convs.map((c) => c.ids.length));
  const kept = `${convs.length} conversations (${all.length - convs.length} longer than ${st.T} dropped`;
  const sizes = `${tokens} tokens, mean ${(tokens / convs.length).toFixed(1)}, longest ${longest}`;
  const layers = `hidden ${st.shape.hidden} × ${st.shape.layers} layers`;
  const model = `vocab ${vocabUsed} → ${st.shape.vocab} (${merges} merges), ${layers}`;
  log(`train:demo: ${kept}; ${sizes}) packed into ${seqs.length} rows of ≤ ${st.T}; ${model}`);
  // 3. SFT of every weight (from the seeded init, or from --init's weights), and the model folder.
  const trained = await sft(gpu, src, seqs, st);
  await writeModel(st.out, files, trained, st.prev);
  // 4. Held-out accuracy.
  const evalTasks = splits.heldOut.slice(0, st.evalTasks ?? (st.quick ? 14 : splits.heldOut.length));
  const results = await evaluateStage(gpu, st.out, evalTasks);
  log(JSON.stringify(results, null, 1));
  await writeFile(join(st.out, 'eval.json'), `${JSON.stringify(results, null, 2)}\n`);
  // 5. The stage record and the model card.
  const stages: StageRecord[] = [...(st.prev?.stages ?? []), stageRecord(st, trained, results, gpu.adapterName)];
  await writeFile(join(st.out, STAGES_FILE), `${JSON.stringify(stages, null, 2)}\n`);
  // a continued model keeps its lineage's history section
  const history = st.prev
    ? cardHistory(await readFile(join(st.init ?? '', 'README.md'), 'utf8').catch(() => null))
    : undefined;
  const card = {
    shape: st.shape,
    vocabUsed,
    merges,
    rows,
    conversations: convs.length,
    tokens,
    stages,
    results,
    history,
  };
  await writeFile(join(st.out, 'README.md'), modelCard({ ...card, evalTasks: evalTasks.length }));
  log(`train:demo: model written to ${st.out} (${trained.seconds.toFixed(0)} s of training)`);
  return 0;
}

function stageRecord(
  st: Settings,
  trained: Trained,
  results: Awaited<ReturnType<typeof evaluateStage>>,
  device: string,
): StageRecord {
  return {
    stage: (st.prev?.stages.length ?? 0) + 1,
    steps: trained.steps,
    epochs: st.epochs,
    lr: st.lr,
    batch: st.batch,
    row_length: st.T,
    tasks: st.nTasks,
    seed: st.seed,
    rambling_share: st.rambling,
    guess_right: st.guessRight,
    suite: st.suite,
    seconds: Math.round(trained.seconds),
    final_loss: Number(tailLoss(trained.curve.map((m) => m.loss)).toFixed(4)),
    device,
    eval: {
      thought_accuracy: results.thought.accuracy,
      direct_accuracy: results.direct.accuracy,
      digit_logprob: results.digit_logprob,
      copied_digit_logprob: results.copied_digit_logprob,
    },
  };
}
