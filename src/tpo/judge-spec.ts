// The judge module: one serialisable spec of a judge (what a run stores), one factory from spec to
// Judge for the CLI and the worker, and the CLI's --judge string parsed into that spec. Where a
// local judge model comes from is the caller's (a folder or hub repo in Node, a hub repo or URL in
// the page): the factory takes it as `M` and a loader. Adding a judge kind touches the spec type,
// `makeJudge`, `parseJudgeArg` and their test (test/judge-spec.test.ts).

import type { LoadedModel } from '../engine/model';
import { UsageError } from '../errors';
import { enginePairwiseJudge } from './engine-judge';
import { httpJudge, type Judge, type Rule, rulesJudge } from './judges';
import { rewardModelJudge } from './rm-judge';

/** A judge, as a run records it. `M` names a local judge model (a path or repo string in Node). */
export type JudgeSpec<M = string> =
  /** Programmatic rules (exact answers, contains, regexes; see tpo/judges.ts) kept inline. */
  | { kind: 'rules'; rules: Rule[]; label?: string }
  /** An OpenAI-compatible /chat/completions endpoint; its API key is never part of the spec. */
  | { kind: 'http'; baseUrl: string; model: string; mode?: 'pairwise' | 'pointwise' }
  /** A *ForSequenceClassification reward model run by this engine, scoring each response. */
  | { kind: 'rm'; model: M }
  /** A chat model run by this engine judging every ordered pair ('policy': the policy judges itself). */
  | { kind: 'pairwise'; model: M | 'policy' };

export type JudgeKind = JudgeSpec['kind'];

/** The defaults of every judge kind, in one place. */
export const JUDGE_DEFAULTS = {
  /** An HTTP judge compares pairs unless told to rate each response (`--judge-mode pointwise`). */
  httpMode: 'pairwise',
  /** Tokens a local pair-wise judge may write before its verdict: room for a short rationale. */
  pairwiseTokens: 256,
  /** The page's pair-wise judge writes less: it shares a laptop GPU with the policy. */
  pagePairwiseTokens: 128,
} as const;

/** What the factory needs from where it runs. */
export interface JudgeEnv<M> {
  /** Loads a local judge model (a reward model for 'rm', a chat model for 'pairwise'). */
  loadModel: (model: M, kind: 'rm' | 'pairwise') => Promise<LoadedModel>;
  /** How a local judge model is named in the judge's label. */
  label: (model: M) => string;
  /** The policy, for `pairwise` with model 'policy'. */
  policy?: { model: LoadedModel; label: string };
  /** The HTTP judge's key (from the environment or the form; never stored). */
  apiKey?: string;
  /** Tokens a local pair-wise judge may write (JUDGE_DEFAULTS.pairwiseTokens if unset). */
  pairwiseTokens?: number;
}

/** The judge a spec describes. */
export async function makeJudge<M>(spec: JudgeSpec<M>, env: JudgeEnv<M>): Promise<Judge> {
  switch (spec.kind) {
    case 'rules':
      return rulesJudge(spec.rules, spec.label);
    case 'http':
      return httpJudge({
        ...{ baseUrl: spec.baseUrl, model: spec.model, apiKey: env.apiKey },
        mode: spec.mode ?? JUDGE_DEFAULTS.httpMode,
      });
    case 'rm':
      return rewardModelJudge(await env.loadModel(spec.model, 'rm'), env.label(spec.model));
    case 'pairwise': {
      const tokens = env.pairwiseTokens ?? JUDGE_DEFAULTS.pairwiseTokens;
      if (spec.model !== 'policy')
        return enginePairwiseJudge(await env.loadModel(spec.model, 'pairwise'), env.label(spec.model), tokens);
      if (!env.policy) throw new UsageError('a pair-wise judge by the policy needs a loaded policy');
      return enginePairwiseJudge(env.policy.model, `${env.policy.label} (the policy)`, tokens);
    }
    default:
      throw new UsageError(
        `unknown judge kind ${JSON.stringify((spec as { kind: unknown }).kind)}`,
        'Use rules, http, rm or pairwise.',
      );
  }
}

/** --judge-mode, checked. */
function checkMode(mode: string | undefined): 'pairwise' | 'pointwise' | undefined {
  if (mode === undefined || mode === 'pairwise' || mode === 'pointwise') return mode;
  throw new UsageError(`--judge-mode ${mode}: use pairwise or pointwise`);
}

const ARG_HELP = 'Use rules:<spec.json>, http:<url>#<model>, pairwise:<model> or rm:<model>.';

/**
 * The CLI's --judge string as a spec: rules:<spec.json> (read with `readText`, the rules kept
 * inline) | http:<url>#<model> | pairwise:<model> | rm:<model or adapter folder>. `mode` is
 * --judge-mode (the HTTP judge's).
 */
export async function parseJudgeArg(
  arg: string,
  mode: string | undefined,
  readText: (path: string) => Promise<string>,
): Promise<JudgeSpec> {
  const [kind, ...rest] = arg.split(':');
  const value = rest.join(':');
  const httpMode = checkMode(mode);
  switch (kind) {
    case 'rules': {
      let parsed: unknown;
      try {
        parsed = JSON.parse(await readText(value));
      } catch (e) {
        throw new UsageError(`--judge rules:${value}: ${(e as Error).message}`);
      }
      // a list of rules, or {"rules": [...]}; rulesJudge says what is wrong with either
      const rules = Array.isArray(parsed) ? parsed : (parsed as { rules?: unknown } | null)?.rules;
      return { kind: 'rules', rules: rules as Rule[], label: `rules:${value}` };
    }
    case 'http': {
      const [baseUrl, model] = value.split('#');
      if (!baseUrl || !model)
        throw new UsageError('--judge http:<url>#<model>, e.g. http:http://localhost:8000/v1#qwen2.5-7b-instruct');
      return { kind: 'http', baseUrl, model, mode: httpMode ?? JUDGE_DEFAULTS.httpMode };
    }
    case 'pairwise':
    case 'rm':
      if (!value) throw new UsageError(`--judge ${kind}: names no model`, ARG_HELP);
      return { kind, model: value };
    default:
      throw new UsageError(`--judge ${arg}: unknown kind`, ARG_HELP);
  }
}

/**
 * A stored run's judge as a spec (runs written before specs were stored kept the --judge string);
 * `mode`, this call's --judge-mode, applies to an HTTP judge as it did when the string was parsed.
 */
export async function storedJudgeSpec(
  stored: unknown,
  readText: (path: string) => Promise<string>,
  mode?: string,
): Promise<JudgeSpec> {
  if (typeof stored === 'string') return parseJudgeArg(stored, mode, readText);
  const spec = stored as JudgeSpec | null;
  if (spec?.kind === 'http' && mode !== undefined) return { ...spec, mode: checkMode(mode) };
  if (spec && ['rules', 'http', 'rm', 'pairwise'].includes(spec.kind)) return spec;
  throw new UsageError(
    `the run's stored judge ${JSON.stringify(stored)} is not a judge spec`,
    'Pass --judge to say which judge to use.',
  );
}
