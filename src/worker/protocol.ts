// The typed API the engine worker exposes through comlink. Kept small: load a model, generate.

import type { FinishReason } from '../engine/generate';
import type { ChatMessage } from '../model/tokenizer';
import type { Progress } from '../model/source';
import type { IterationMetrics } from '../tpo/store';

export type ModelSpec =
  | { kind: 'url'; baseUrl: string; label?: string }
  | { kind: 'hub'; repo: string; hubUrl?: string; revision?: string }
  | { kind: 'files'; files: File[] };

export interface ModelInfo {
  label: string;
  modelType: string;
  layers: number;
  hidden: number;
  vocab: number;
  weightType: 'f32' | 'f16';
  weightBytes: number;
  hasTokenizer: boolean;
  adapter: string;
  software: boolean;
}

export interface GenerateRequest {
  messages?: ChatMessage[];
  promptIds?: number[];
  numSamples?: number;
  maxNewTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  stopStrings?: string[];
}

export interface GeneratedSample {
  tokenIds: number[];
  text: string;
  finishReason: FinishReason;
}

export interface RunRequest {
  runId: string;
  /** prompts.jsonl content: {"instruction", "id"?, ...judge fields} per line. */
  instructionsJsonl: string;
  /** A template with {instruction}; a separator makes it a thought prompt (none: direct baseline). */
  template: string;
  separator?: string;
  /** The judge: programmatic rules (see tpo run --judge rules:), or an OpenAI-compatible endpoint. */
  judge: { kind: 'rules'; rules: unknown[] } | { kind: 'http'; baseUrl: string; model: string; mode: 'pointwise' | 'pairwise'; apiKey?: string };
  samples: number;
  temperature: number;
  topP: number;
  maxNewTokens: number;
  iterations: number;
  perIteration: number;
  rho: number;
  beta: number;
  lr: number;
  epochs: number;
  batchSize: number;
  loraR: number;
  loraAlpha: number;
  maxLength: number;
  seed: number;
}

export interface RunProgress {
  iteration: number;
  stage: 'sampling' | 'judging' | 'training';
  done: number;
  total: number;
  tokensPerSecond: number;
  etaSeconds: number | null;
}

export interface EngineApi {
  load(spec: ModelSpec, onProgress?: (p: Progress) => void): Promise<ModelInfo>;
  generate(req: GenerateRequest, onToken?: (sample: number, tokenId: number) => void): Promise<GeneratedSample[]>;
  unload(): Promise<void>;
  /** Runs (or resumes, when runId is already stored) TPO iterations with records in IndexedDB. */
  tpoRun(req: RunRequest, onProgress?: (p: RunProgress) => void): Promise<IterationMetrics[]>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  cancel(): Promise<void>;
  /** A run's pairs (TRL JSONL per iteration), adapters (PEFT zip per iteration) and metrics (CSV). */
  exportRun(runId: string): Promise<Record<string, Uint8Array>>;
  /** Stores files named as exportRun names them under a run id; returns what was imported. */
  importRun(runId: string, files: Record<string, Uint8Array>): Promise<string[]>;
  listRuns(): Promise<{ id: string; iterations: number }[]>;
  deleteRun(runId: string): Promise<void>;
}
