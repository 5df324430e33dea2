// The browser's run records, in IndexedDB (through idb). One database for all runs; every write
// is one transaction, so a reload or crash mid-iteration leaves whole units only, and a resumed
// run continues from them. A full disk surfaces as StorageQuotaError saying what to delete.

import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { TpoError } from '../errors';
import type { AdapterFiles } from '../train/peft';
import type { InstructionRecord, IterationMetrics, PairRecord, RunStore } from './store';

/** The browser's storage quota is full. */
export class StorageQuotaError extends TpoError {}

interface TpoDB extends DBSchema {
  runs: { key: string; value: { id: string; config: Record<string, unknown>; created: string } };
  samples: {
    key: [string, number, string];
    value: InstructionRecord & { runId: string };
    indexes: { byIteration: [string, number] };
  };
  pairs: { key: [string, number]; value: { runId: string; iteration: number; pairs: PairRecord[] } };
  adapters: {
    key: [string, number];
    value: { runId: string; iteration: number; config: Uint8Array; weights: Uint8Array; trainerState?: Uint8Array };
  };
  metrics: { key: [string, number]; value: { runId: string; iteration: number; metrics: IterationMetrics } };
}

export const DB_NAME = 'tpo-webgpu';

export function openRunsDb(): Promise<IDBPDatabase<TpoDB>> {
  return openDB<TpoDB>(DB_NAME, 1, {
    upgrade(db) {
      db.createObjectStore('runs', { keyPath: 'id' });
      const s = db.createObjectStore('samples', { keyPath: ['runId', 'iteration', 'id'] });
      s.createIndex('byIteration', ['runId', 'iteration']);
      db.createObjectStore('pairs', { keyPath: ['runId', 'iteration'] });
      db.createObjectStore('adapters', { keyPath: ['runId', 'iteration'] });
      db.createObjectStore('metrics', { keyPath: ['runId', 'iteration'] });
    },
  });
}

async function guard<T>(db: IDBPDatabase<TpoDB>, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if ((e as DOMException).name === 'QuotaExceededError') {
      const runs = await db.getAll('runs').catch(() => []);
      const sizes = await Promise.all(
        runs.map(async (r) => ({
          id: r.id,
          adapters: (await db.getAllKeys('adapters', IDBKeyRange.bound([r.id, 0], [r.id, Infinity]))).length,
        })),
      );
      const list = sizes.map((s) => `${s.id} (${s.adapters} adapters)`).join(', ') || 'none';
      throw new StorageQuotaError(
        'The browser storage quota is full; nothing already stored was lost.',
        `Delete old runs or adapters in the Data view (stored runs: ${list}), or export them first.`,
      );
    }
    throw e;
  }
}

export async function idbStore(db: IDBPDatabase<TpoDB>, runId: string): Promise<RunStore> {
  const range = (it: number) => IDBKeyRange.only([runId, it]);
  return {
    async readConfig() {
      return (await db.get('runs', runId))?.config ?? null;
    },
    writeConfig: (config) =>
      guard(db, async () => void (await db.put('runs', { id: runId, config, created: new Date().toISOString() }))),
    async readSamples(it) {
      return (await db.getAllFromIndex('samples', 'byIteration', range(it))).map(
        ({ runId: _r, ...rec }) => (void _r, rec),
      );
    },
    appendSamples: (rec) => guard(db, async () => void (await db.put('samples', { ...rec, runId }))),
    async readPairs(it) {
      return (await db.get('pairs', [runId, it]))?.pairs ?? null;
    },
    writePairs: (it, pairs) => guard(db, async () => void (await db.put('pairs', { runId, iteration: it, pairs }))),
    async readAdapter(it) {
      const a = await db.get('adapters', [runId, it]);
      if (!a) return null;
      const files: AdapterFiles = { 'adapter_config.json': a.config, 'adapter_model.safetensors': a.weights };
      if (a.trainerState) files['trainer_state.json'] = a.trainerState;
      return files;
    },
    writeAdapter: (it, f) =>
      guard(
        db,
        async () =>
          void (await db.put('adapters', {
            runId,
            iteration: it,
            config: f['adapter_config.json'],
            weights: f['adapter_model.safetensors'],
            ...(f['trainer_state.json'] ? { trainerState: f['trainer_state.json'] } : {}),
          })),
      ),
    async readMetrics(it) {
      return (await db.get('metrics', [runId, it]))?.metrics ?? null;
    },
    writeMetrics: (it, metrics) =>
      guard(db, async () => void (await db.put('metrics', { runId, iteration: it, metrics }))),
  };
}

/** Deletes a run and everything recorded for it, in one transaction. */
export async function deleteRun(db: IDBPDatabase<TpoDB>, runId: string): Promise<void> {
  const tx = db.transaction(['runs', 'samples', 'pairs', 'adapters', 'metrics'], 'readwrite');
  const all = IDBKeyRange.bound([runId], [runId, []]);
  await Promise.all([
    tx.objectStore('runs').delete(runId),
    tx.objectStore('samples').delete(all),
    tx.objectStore('pairs').delete(all),
    tx.objectStore('adapters').delete(all),
    tx.objectStore('metrics').delete(all),
    tx.done,
  ]);
}

/** A summary of every stored run: its iterations, adapters, pairs and model. */
export async function listRuns(
  db: IDBPDatabase<TpoDB>,
): Promise<{ id: string; iterations: number; adapters: number[]; pairs: number; model: string }[]> {
  const runs = await db.getAll('runs');
  const range = (id: string) => IDBKeyRange.bound([id, 0], [id, Infinity]);
  return Promise.all(
    runs.map(async (r) => ({
      id: r.id,
      iterations: (await db.getAllKeys('metrics', range(r.id))).length,
      adapters: (await db.getAllKeys('adapters', range(r.id))).map((k) => (k as [string, number])[1]),
      pairs: (await db.getAll('pairs', range(r.id))).reduce((a, p) => a + p.pairs.length, 0),
      model: String((r.config as Record<string, unknown> | undefined)?.model ?? ''),
    })),
  );
}
