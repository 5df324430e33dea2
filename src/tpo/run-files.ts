// A run as files, for export and import: pairs-<i>.jsonl (TRL), adapter-<i>.zip (PEFT) and
// metrics.csv — what users who outgrow the browser take to Python tooling, and bring back.

import { UsageError } from '../errors';
import { adapterFromZip, adapterToZip, metricsFromCsv, metricsToCsv, pairsFromJsonl, pairsToJsonl } from './export';
import type { IterationMetrics, RunStore } from './store';

/** Every iteration's pairs and adapter, and the metrics of all iterations as CSV. */
export async function exportRunFiles(store: RunStore, runId: string): Promise<Record<string, Uint8Array>> {
  if (!(await store.readConfig())) throw new UsageError(`no run "${runId}" is stored`);
  const files: Record<string, Uint8Array> = {};
  const metrics: IterationMetrics[] = [];
  const enc = new TextEncoder();
  for (let it = 0; ; it++) {
    const pairs = await store.readPairs(it);
    const adapter = await store.readAdapter(it);
    const m = await store.readMetrics(it);
    if (!pairs && !adapter && !m) break;
    if (pairs) files[`pairs-${it}.jsonl`] = enc.encode(pairsToJsonl(pairs));
    if (adapter) files[`adapter-${it}.zip`] = adapterToZip(adapter);
    if (m) metrics.push(m);
  }
  files['metrics.csv'] = enc.encode(metricsToCsv(metrics));
  return files;
}

/** Stores files named as exportRunFiles names them; returns the names imported. Metrics of an
 *  iteration already stored are kept. */
export async function importRunFiles(store: RunStore, files: Record<string, Uint8Array>): Promise<string[]> {
  if (!(await store.readConfig())) await store.writeConfig({ imported: new Date().toISOString() });
  const done: string[] = [];
  const dec = new TextDecoder();
  for (const [name, bytes] of Object.entries(files)) {
    const m = /^(pairs|adapter)-(\d+)\.(jsonl|zip)$/.exec(name);
    if (m?.[1] === 'pairs') await store.writePairs(Number(m[2]), pairsFromJsonl(dec.decode(bytes)));
    else if (m?.[1] === 'adapter') await store.writeAdapter(Number(m[2]), adapterFromZip(bytes));
    else if (name.endsWith('.csv')) await importMetrics(store, dec.decode(bytes));
    else
      throw new UsageError(
        `cannot import ${name}`,
        'Import pairs-<i>.jsonl (TRL), adapter-<i>.zip (PEFT) or metrics.csv files.',
      );
    done.push(name);
  }
  return done;
}

async function importMetrics(store: RunStore, csv: string): Promise<void> {
  for (const row of metricsFromCsv(csv)) {
    const it = Number(row.iteration);
    const { win_rate, lc_win_rate, ...rest } = row as IterationMetrics & { win_rate?: number; lc_win_rate?: number };
    const evalPart =
      win_rate !== undefined && Number.isFinite(win_rate)
        ? { eval: { win_rate, lc_win_rate: lc_win_rate ?? NaN } }
        : {};
    if (!(await store.readMetrics(it))) await store.writeMetrics(it, { ...rest, ...evalPart, dpo: [] });
  }
}
