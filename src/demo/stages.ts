// The demo model's training history, one record per stage (`npm run train:demo`, then each
// `--init` continuation), kept machine-readable in the model folder as training_stages.json so a
// later stage, the model card and the README read the same numbers the runs measured.

import { UsageError } from '../errors';
import { GUESS_RIGHT, STYLE_MIX } from './corpus';
import type { Suite } from './tasks';

export interface StageRecord {
  /** 1 for the from-scratch run, then one more per --init continuation. */
  stage: number;
  /** Optimizer steps of this stage alone. */
  steps: number;
  epochs: number;
  lr: number;
  /** Packed rows a step, and their length in tokens. */
  batch: number;
  row_length: number;
  tasks: number;
  seed: number;
  /** Share of rambling thoughts in the corpus (--rambling); absent in records written before it
   *  existed (= STYLE_MIX's). */
  rambling_share?: number;
  /** Share of guesses that are right (--guess-right); absent in records written before it existed (= GUESS_RIGHT). */
  guess_right?: number;
  /** The task suite it trained on (--suite); absent in records written before it existed (= first). */
  suite?: Suite;
  /** Wall-clock seconds of this stage's training (not its evaluation). */
  seconds: number;
  /** Mean loss of the stage's last 100 steps (nats/token): less noisy than its last step. */
  final_loss: number;
  device: string;
  /** Held-out figures measured right after the stage (greedy accuracy, digit-reading probe). */
  eval: { thought_accuracy: number; direct_accuracy: number; digit_logprob: number; copied_digit_logprob: number };
}

export const STAGES_FILE = 'training_stages.json';

/** The records of an --init folder (`where` names it in errors). */
export function parseStages(text: string | null, where: string): StageRecord[] {
  if (text === null)
    throw new UsageError(
      `--init ${where}: no ${STAGES_FILE} there; --init continues a model folder written by npm run train:demo`,
    );
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    v = null;
  }
  if (
    !Array.isArray(v) ||
    v.length === 0 ||
    v.some((s) => typeof s?.steps !== 'number' || typeof s?.seconds !== 'number')
  ) {
    throw new UsageError(`--init ${where}: ${STAGES_FILE} is not a list of stage records with steps and seconds`);
  }
  return v as StageRecord[];
}

/** Mean loss of the last `n` steps of a stage's loss values. */
export function tailLoss(losses: number[], n = 100): number {
  const t = losses.slice(-n);
  return t.reduce((a, b) => a + b, 0) / t.length;
}

/** The corpus's rambling share of a stage. */
export const ramblingShare = (s: StageRecord) => s.rambling_share ?? STYLE_MIX[0][1];

/** The corpus's share of right guesses in a stage. */
export const guessRight = (s: StageRecord) => s.guess_right ?? GUESS_RIGHT;

export const totalSteps = (s: StageRecord[]) => s.reduce((a, r) => a + r.steps, 0);
export const totalSeconds = (s: StageRecord[]) => s.reduce((a, r) => a + r.seconds, 0);
