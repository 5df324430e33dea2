// What a TPO run records, and where. Every stage writes whole units of work (one instruction's
// samples with their scores, one iteration's pairs, one adapter), so a run interrupted anywhere
// resumes at the last completed unit without losing or duplicating anything.

import type { AdapterFiles } from '../train/peft';
import type { StepMetrics } from '../train/trainer';

/** How an iteration's checkpoint was chosen (select.ts): each candidate's validation figures and the one kept. */
export interface SelectionRecord {
  instructions: number;
  candidates: {
    epoch: number; // 0 = M_t, no update
    win_share: number; // mean share of wins over the other candidates, per validation instruction
    mean_score: number | null; // mean judge score of its parsed responses (point-wise judges only)
    parse_failure_rate: number;
  }[];
  chosen_epoch: number;
}

export interface Sample {
  raw: string; // the whole output (thought + response)
  parsed: boolean;
  thought: string;
  response: string;
  score: number | null; // judge score; null for parse failures (never judged) and where the judge gave none
}

export interface InstructionRecord {
  iteration: number;
  id: string;
  instruction: string;
  samples: Sample[];
}

/** A preference pair in TRL's conversational format. */
export interface PairRecord {
  prompt: { role: 'user'; content: string }[];
  chosen: { role: 'assistant'; content: string }[];
  rejected: { role: 'assistant'; content: string }[];
}

export interface IterationMetrics {
  iteration: number;
  instructions: number;
  pairs: number;
  /** Instructions with no pair because every scored output got the same judge score. */
  skipped_all_tied: number;
  /** Instructions with no pair because fewer than two outputs could be ranked (no parsed and
   *  scored output, or one alone). Absent in runs stored before it was counted. */
  skipped_too_few?: number;
  /** Parsed outputs the judge gave no score (an LLM judge's reply without a rating). */
  unscored?: number;
  parse_failure_rate: number;
  mean_score: number;
  mean_thought_chars: number;
  mean_response_chars: number;
  chosen_response_chars: number;
  rejected_response_chars: number;
  dpo: StepMetrics[];
  /** Which DPO epoch was kept (0 = none, M_t) and how every candidate did on the validation instructions. */
  selection?: SelectionRecord;
  eval?: Record<string, number | number[]>;
}

export interface RunStore {
  readConfig(): Promise<Record<string, unknown> | null>;
  writeConfig(c: Record<string, unknown>): Promise<void>;
  /** Instruction records of one iteration, at most one per id. */
  readSamples(iteration: number): Promise<InstructionRecord[]>;
  appendSamples(rec: InstructionRecord): Promise<void>;
  readPairs(iteration: number): Promise<PairRecord[] | null>;
  writePairs(iteration: number, pairs: PairRecord[]): Promise<void>;
  readAdapter(iteration: number): Promise<AdapterFiles | null>;
  writeAdapter(iteration: number, files: AdapterFiles): Promise<void>;
  readMetrics(iteration: number): Promise<IterationMetrics | null>;
  writeMetrics(iteration: number, m: IterationMetrics): Promise<void>;
}

/** Every iteration's metrics of a stored run, in order. */
export async function runMetrics(store: RunStore): Promise<IterationMetrics[]> {
  const out: IterationMetrics[] = [];
  for (let it = 0; ; it++) {
    const m = await store.readMetrics(it);
    if (!m) return out;
    out.push(m);
  }
}
