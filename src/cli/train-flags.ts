// The DPO, LoRA and truncation flags, parsed once for `tpo dpo`/`tpo sft` and `tpo run` (which
// accepts every one of them, with the same defaults and bounds).

import { UsageError } from '../errors';
import { truncation, type Truncation } from '../train/data';
import { DEFAULT_LORA, TARGETS, type LoraConfig, type Target } from '../train/lora';
import { DEFAULT_TRAIN, type TrainOptions } from '../train/trainer';
import { flags } from './flags';

export const TRAIN_FLAGS_HELP = `[--lr 5e-5] [--epochs 1] [--batch-size 2] [--grad-accum 1] [--beta 0.1] [--label-smoothing 0]
                  [--lora-r 16] [--lora-alpha 32] [--target-modules q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj]
                  [--max-length 1024] [--max-prompt-length 512] [--max-completion-length N] [--truncation-mode keep_end|keep_start]
                  [--warmup-steps 0] [--schedule linear|cosine|constant] [--max-grad-norm 1] [--weight-decay 0] [--seed 0]`;

/** The flags themselves (parseArgs options). */
export const TRAIN_OPTIONS = {
  lr: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  'grad-accum': { type: 'string' },
  beta: { type: 'string' },
  'label-smoothing': { type: 'string' },
  'lora-r': { type: 'string' },
  'lora-alpha': { type: 'string' },
  'target-modules': { type: 'string' },
  'max-length': { type: 'string' },
  'max-prompt-length': { type: 'string' },
  'max-completion-length': { type: 'string' },
  'truncation-mode': { type: 'string' },
  'warmup-steps': { type: 'string' },
  schedule: { type: 'string' },
  'max-grad-norm': { type: 'string' },
  'weight-decay': { type: 'string' },
  seed: { type: 'string' },
} as const;

type Values = Record<string, unknown>;

/** The optimizer and DPO settings; every default is DEFAULT_TRAIN's (TRL's DPOConfig where it has one). */
export function trainFromFlags(a: Values): TrainOptions {
  const num = flags(a);
  const d = DEFAULT_TRAIN;
  const o: TrainOptions = {
    ...d,
    lr: num('lr', d.lr, { min: 0 }),
    epochs: num('epochs', d.epochs, { integer: true, min: 1 }),
    batchSize: num('batch-size', d.batchSize, { integer: true, min: 1 }),
    gradAccum: num('grad-accum', d.gradAccum, { integer: true, min: 1 }),
    beta: num('beta', d.beta, { min: 0 }),
    labelSmoothing: num('label-smoothing', d.labelSmoothing, { min: 0, max: 0.5, maxExclusive: true }),
    warmupSteps: num('warmup-steps', d.warmupSteps, { integer: true, min: 0 }),
    maxGradNorm: num('max-grad-norm', d.maxGradNorm, { min: 0 }),
    weightDecay: num('weight-decay', d.weightDecay, { min: 0 }),
    schedule: (a.schedule ?? d.schedule) as TrainOptions['schedule'],
    seed: num('seed', d.seed, { integer: true, min: 0 }), // the LoRA init and each epoch's data order
  };
  if (!['linear', 'cosine', 'constant'].includes(o.schedule))
    throw new UsageError(`--schedule ${o.schedule}: expected linear, cosine or constant`);
  return o;
}

/** TRL's truncation settings (train/data.ts Truncation). */
export function truncationFromFlags(a: Values): Truncation {
  const num = flags(a);
  const mode = (a['truncation-mode'] ?? 'keep_end') as Truncation['mode'];
  if (mode !== 'keep_end' && mode !== 'keep_start')
    throw new UsageError(`--truncation-mode ${String(mode)}: expected keep_end or keep_start`);
  const limit = (name: string) =>
    a[name] === undefined ? undefined : num(name, 0, { integer: true, min: 1, what: 'a token count' });
  return truncation(num('max-length', 1024, { integer: true, min: 2 }), {
    mode,
    ...(limit('max-prompt-length') !== undefined ? { maxPromptLength: limit('max-prompt-length')! } : {}),
    ...(limit('max-completion-length') !== undefined ? { maxCompletionLength: limit('max-completion-length')! } : {}),
  });
}

/** A new adapter's shape. */
export function loraFromFlags(a: Values): LoraConfig {
  const num = flags(a);
  const targets = String(a['target-modules'] ?? TARGETS.join(','))
    .split(',')
    .map((s) => s.trim()) as Target[];
  const bad = targets.filter((t) => !(TARGETS as readonly string[]).includes(t));
  if (bad.length)
    throw new UsageError(`--target-modules: unknown ${bad.join(', ')}`, `Use some of ${TARGETS.join(',')}.`);
  return {
    r: num('lora-r', DEFAULT_LORA.r, { integer: true, min: 1 }),
    alpha: num('lora-alpha', DEFAULT_LORA.alpha, { min: 0 }),
    targets,
  };
}
