// The typed API the engine worker exposes through comlink. Kept small: load a model, generate.

import type { FinishReason } from '../engine/generate';
import type { WeightType } from '../gpu/shaders';
import type { WeightDtypeChoice } from '../engine/weights';
import type { GpuOptions } from '../gpu/device';
import type { ChatMessage } from '../model/tokenizer';
import type { Progress } from '../model/source';
import type { IterationMetrics } from '../tpo/store';
import type { RunProgress } from '../tpo/run';
import type { StepMetrics } from '../train/trainer';
import type { JudgeSpec } from '../tpo/judge-spec';
import type { CrashPoint } from '../tpo/fault';

/** A judge model kept with a run's settings: a hub repo or a URL (dropped files cannot be stored). */
export type JudgeModelSpec = Extract<ModelSpec, { kind: 'hub' | 'url' }>;

/** The judge module's spec (tpo/judge-spec.ts) with the page's judge models; an HTTP judge's API
 *  key travels beside it to the worker and is never stored with the run. */
export type PageJudgeSpec = JudgeSpec<JudgeModelSpec> | (Extract<JudgeSpec, { kind: 'http' }> & { apiKey?: string });

/** Where a model comes from, and how its weights are stored on the GPU (default auto: as the checkpoint). */
export type ModelSpec = (
  | { kind: 'url'; baseUrl: string; label?: string }
  | { kind: 'hub'; repo: string; hubUrl?: string; revision?: string }
  | { kind: 'files'; files: File[] }
) & { weightDtype?: WeightDtypeChoice };

export interface ModelInfo {
  label: string;
  modelType: string;
  layers: number;
  hidden: number;
  vocab: number;
  weightType: WeightType;
  weightBytes: number;
  /** Sequences generated together (TPO samples instructions × K in batches of this many). */
  slots: number;
  hasTokenizer: boolean;
  /** The chat template knows enable_thinking: the model thinks natively in <think>…</think>. */
  thinksNatively: boolean;
  adapter: string;
  software: boolean;
  /** The device's limits that size the model's buffers (bytes). */
  maxBindingBytes: number;
  maxBufferBytes: number;
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
  /** Text that opens the thought (removed from it), e.g. "Here is my thought process:". */
  thoughtMarker?: string;
  /** The model's own <think> block is the thought (template and separator unused; models whose chat
   *  template knows enable_thinking, e.g. Qwen3). */
  nativeThinking?: boolean;
  /**
   * The judge: programmatic rules (see tpo run --judge rules:), an OpenAI-compatible endpoint, or a
   * model on this GPU beside the policy — a reward model (*ForSequenceClassification) scoring each
   * response, or a chat model judging every ordered pair ('policy': the policy judges itself).
   */
  judge: PageJudgeSpec;
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
  /** Instructions held out from the end of the set: after every iteration the new adapter (thought
   *  hidden) is judged against the base model answering directly on them (win rate, ties ½). 0: none. */
  evalCount: number;
  /** Instructions per iteration, fresh each iteration, just before the held-out ones and never
   *  trained on: each iteration keeps the best of its starting model and its DPO epochs on them
   *  (checkpoint selection). 0: the last epoch. */
  validation?: number;
  /** Sequences per sampling batch, at most the model's slots; 0 or absent: as many as the model holds. */
  sampleBatch?: number;
}

/** A run's progress: counts, the decode rate and an ETA (tpo/run.ts). */
export type { RunProgress } from '../tpo/run';

/** A chat turn: the instruction, optionally wrapped in a thought prompt whose thought is hidden. */
export interface ChatRequest {
  instruction: string;
  /** A thought prompt (template with {instruction}, separator, thought marker), or `native`: the model's own
   *  <think> block (the template and separator are then not used); absent: answer directly. */
  thought?: { template: string; separator: string; thoughtMarker?: string; native?: boolean };
  maxNewTokens: number;
  temperature: number;
  topP?: number;
  seed: number;
  /** Outputs without the separator are resampled up to this many times, never shown as answers. */
  retries: number;
  /** Generate without the attached adapter (compare mode's "base" side). */
  base?: boolean;
}

export interface ChatUpdate {
  phase: 'thinking' | 'answering';
  attempt: number;
  thoughtTokens: number;
  answer: string;
}

export interface ChatReply {
  ok: boolean;
  thought: string;
  answer: string;
  attempts: number;
  tokens: number;
  seconds: number;
}

/** One TPO iteration on one instruction, stage by stage, for the walkthrough. */
export interface WalkthroughRequest {
  instruction: string;
  /** Judge fields, e.g. {"answer": "42"}. */
  meta: Record<string, unknown>;
  rules: unknown[];
  /** A judge model on this GPU instead of the rules (as a run's `judge` of kind rm / pairwise). */
  judge?: Extract<RunRequest['judge'], { kind: 'rm' | 'pairwise' }>;
  template: string;
  separator: string;
  thoughtMarker?: string;
  /** As RunRequest's. */
  nativeThinking?: boolean;
  samples: number;
  temperature: number;
  maxNewTokens: number;
  rho: number;
  beta: number;
  lr: number;
  steps: number;
  seed: number;
  /** Draws of K samples at most: a draw with no pair (all tied, too few parsed) is followed by a fresh one. */
  draws: number;
}

export type WalkthroughStage =
  | { stage: 'prompt'; prompt: string }
  | { stage: 'samples'; samples: { raw: string; ok: boolean; thought: string; response: string }[]; seed: number }
  | { stage: 'scores'; scores: (number | null)[]; lc: (number | null)[] }
  | { stage: 'pair'; chosen: number; rejected: number }
  | { stage: 'pair'; skipped: string; redraw: boolean }
  | { stage: 'dpo'; step: number; loss: number; chosenRatio: number; rejectedRatio: number; accuracy: number };

export type RunEvent =
  | { type: 'step'; step: StepMetrics; iteration: number }
  | { type: 'iteration'; metrics: IterationMetrics };

/** A stored run's adapter of one iteration, or a PEFT adapter folder served at a URL (the demo's shipped ones). */
export type AdapterRef = { runId: string; iteration: number } | { url: string; label: string };

export interface EngineApi {
  load(spec: ModelSpec, onProgress?: (p: Progress) => void): Promise<ModelInfo>;
  /** How the GPU device is requested (`?limits=default` in the page's URL: WebGPU's default limits);
   *  before the first load only, as the device is acquired once. */
  setDeviceOptions(o: Pick<GpuOptions, 'defaultLimits'>): Promise<void>;
  generate(req: GenerateRequest, onToken?: (sample: number, tokenId: number) => void): Promise<GeneratedSample[]>;
  unload(): Promise<void>;
  /** Runs (or resumes, when runId is already stored) TPO iterations with records in IndexedDB. */
  tpoRun(
    req: RunRequest,
    onProgress?: (p: RunProgress) => void,
    onEvent?: (e: RunEvent) => void,
  ): Promise<IterationMetrics[]>;
  /** Generates one answer, its thought hidden but reported, streaming progress. */
  chat(req: ChatRequest, onUpdate?: (u: ChatUpdate) => void): Promise<ChatReply>;
  /** Attaches a stored run's adapter (null: the base model). Returns a label for the UI. */
  useAdapter(ref: AdapterRef | null): Promise<string>;
  walkthrough(req: WalkthroughRequest, onStage: (s: WalkthroughStage) => void): Promise<void>;
  /** A stored run's metrics per iteration (for the dashboard after a reload). */
  runMetrics(runId: string): Promise<IterationMetrics[]>;
  /** The settings a stored run was started with (null when no such run). */
  runConfig(runId: string): Promise<Record<string, unknown> | null>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  cancel(): Promise<void>;
  /** Destroys the GPU device, as a driver reset or a crash would (the recovery tests use it; so can
   *  anyone trying the recovery from the console: window.tpoEngine.destroyDevice()). */
  destroyDevice(): Promise<void>;
  /** Test hook: the n-th time a run reaches crash point `point` (tpo/fault.ts), it halts there for
   *  good, as a killed worker would, and this resolves; the page-kill test then closes the page. */
  haltAt(point: CrashPoint, n: number): Promise<void>;
  /** Test hook: the n-th time a run reaches crash point `point`, it is paused there (held at its
   *  next unit), as Pause pressed at that moment would; this resolves then. */
  pauseAt(point: CrashPoint, n: number): Promise<void>;
  /** A run's pairs (TRL JSONL per iteration), adapters (PEFT zip per iteration) and metrics (CSV). */
  exportRun(runId: string): Promise<Record<string, Uint8Array>>;
  /** Stores files named as exportRun names them under a run id; returns what was imported. */
  importRun(runId: string, files: Record<string, Uint8Array>): Promise<string[]>;
  listRuns(): Promise<{ id: string; iterations: number; adapters: number[]; pairs: number; model: string }[]>;
  deleteRun(runId: string): Promise<void>;
}
