// The typed API the engine worker exposes through comlink. Kept small: load a model, generate.

import type { FinishReason } from '../engine/generate';
import type { ChatMessage } from '../model/tokenizer';
import type { Progress } from '../model/source';

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

export interface EngineApi {
  load(spec: ModelSpec, onProgress?: (p: Progress) => void): Promise<ModelInfo>;
  generate(req: GenerateRequest, onToken?: (sample: number, tokenId: number) => void): Promise<GeneratedSample[]>;
  unload(): Promise<void>;
}
