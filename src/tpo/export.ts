// Moving run data to and from Python tooling: pairs as TRL JSONL, adapters as PEFT zips
// (adapter_config.json + adapter_model.safetensors), metrics as CSV. Imports check what they read.

import { unzipSync, zipSync } from 'fflate';
import { UsageError } from '../errors';
import type { AdapterFiles } from '../train/peft';
import type { IterationMetrics, PairRecord } from './store';

export function pairsToJsonl(pairs: PairRecord[]): string {
  return pairs.map((p) => JSON.stringify(p)).join('\n') + (pairs.length ? '\n' : '');
}

/** TRL JSONL (conversational or plain) → pairs; plain rows become single-turn conversations. */
export function pairsFromJsonl(text: string): PairRecord[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((line, i) => {
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(line);
      } catch (e) {
        throw new UsageError(`pairs line ${i + 1}: not valid JSON (${(e as Error).message})`);
      }
      const conv = (v: unknown, role: 'user' | 'assistant') => (typeof v === 'string' ? [{ role, content: v }] : v);
      const p = {
        prompt: conv(r.prompt, 'user'),
        chosen: conv(r.chosen, 'assistant'),
        rejected: conv(r.rejected, 'assistant'),
      } as PairRecord;
      for (const k of ['prompt', 'chosen', 'rejected'] as const) {
        const v = p[k] as unknown;
        if (!Array.isArray(v) || !v.every((m) => m && typeof m.role === 'string' && typeof m.content === 'string'))
          throw new UsageError(`pairs line ${i + 1}: "${k}" must be a string or a list of {role, content}`);
      }
      return p;
    });
}

export function adapterToZip(files: AdapterFiles): Uint8Array {
  return zipSync({
    'adapter_config.json': files['adapter_config.json'],
    'adapter_model.safetensors': files['adapter_model.safetensors'],
  });
}

/** A PEFT zip (files at the top or inside one folder) → adapter files. */
export function adapterFromZip(zip: Uint8Array): AdapterFiles {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(zip);
  } catch (e) {
    throw new UsageError(`not a valid zip file (${(e as Error).message})`);
  }
  const find = (name: string) => Object.entries(entries).find(([k]) => k === name || k.endsWith('/' + name))?.[1];
  const config = find('adapter_config.json'),
    weights = find('adapter_model.safetensors');
  if (!config || !weights)
    throw new UsageError(
      'the zip holds no adapter_config.json + adapter_model.safetensors',
      'Export a PEFT LoRA adapter folder as a zip.',
    );
  return { 'adapter_config.json': config, 'adapter_model.safetensors': weights };
}

const CSV_COLUMNS = [
  'iteration',
  'instructions',
  'pairs',
  'skipped_all_tied',
  'parse_failure_rate',
  'mean_score',
  'mean_thought_chars',
  'mean_response_chars',
  'chosen_response_chars',
  'rejected_response_chars',
  'final_dpo_loss',
  'final_reward_accuracy',
] as const;
/** Held-out evaluation figures, stored under metrics.eval. */
const EVAL_COLUMNS = ['win_rate', 'lc_win_rate'] as const;
/** Written when the run measured them (checkpoint selection, held-out evaluation), not required on import. */
const OPTIONAL_COLUMNS = ['skipped_too_few', 'unscored', 'kept_epoch', ...EVAL_COLUMNS] as const;

export function metricsToCsv(metrics: IterationMetrics[]): string {
  const rows = metrics.map((m) => {
    const last = m.dpo[m.dpo.length - 1];
    const v: Record<string, unknown> = {
      ...m,
      final_dpo_loss: last?.loss ?? '',
      final_reward_accuracy: last?.['rewards/accuracies'] ?? '',
    };
    v.kept_epoch = m.selection?.chosen_epoch ?? '';
    for (const c of EVAL_COLUMNS) v[c] = typeof m.eval?.[c] === 'number' ? m.eval[c] : '';
    return [...CSV_COLUMNS, ...OPTIONAL_COLUMNS].map((c) => String(v[c] ?? '')).join(',');
  });
  return [[...CSV_COLUMNS, ...OPTIONAL_COLUMNS].join(','), ...rows].join('\n') + '\n';
}

export function metricsFromCsv(text: string): Partial<IterationMetrics>[] {
  const [head, ...lines] = text.trim().split('\n');
  const cols = head.split(',');
  const missing = CSV_COLUMNS.filter((c) => !cols.includes(c));
  if (missing.length) throw new UsageError(`metrics CSV lacks columns ${missing.join(', ')}`);
  return lines
    .filter((l) => l.trim())
    .map((l) => {
      const cells = l.split(',');
      const o: Record<string, number> = {};
      cols.forEach((c, i) => (o[c] = cells[i] === '' ? NaN : Number(cells[i])));
      return o as Partial<IterationMetrics>;
    });
}
