// The Node run folder: config.json, samples-<i>.jsonl (one line per instruction, appended),
// pairs-<i>.jsonl (TRL), adapter-<i>/ (PEFT), metrics-<i>.json. Whole files are written to a
// temporary name and renamed, so a crash never leaves half a file; a torn last line of the
// appended samples file (a crash mid-append) is ignored and that instruction is redone.

import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crashPoint } from './fault';
import type { AdapterFiles } from '../train/peft';
import type { InstructionRecord, IterationMetrics, PairRecord, RunStore } from './store';

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await writeFile(path + '.tmp', data);
  await rename(path + '.tmp', path);
}

export async function folderStore(dir: string): Promise<RunStore> {
  await mkdir(dir, { recursive: true });
  const p = (f: string) => join(dir, f);
  return {
    async readConfig() {
      const t = await readText(p('config.json'));
      return t ? JSON.parse(t) : null;
    },
    writeConfig: (c) => writeAtomic(p('config.json'), JSON.stringify(c, null, 2) + '\n'),
    async readSamples(it) {
      const t = await readText(p(`samples-${it}.jsonl`));
      const byId = new Map<string, InstructionRecord>();
      for (const line of (t ?? '').split('\n')) {
        if (!line.trim()) continue;
        try {
          const r = JSON.parse(line) as InstructionRecord;
          if (!byId.has(r.id)) byId.set(r.id, r);
        } catch {
          // a torn line from an interrupted append: that instruction is simply done again
        }
      }
      return [...byId.values()];
    },
    async appendSamples(rec) {
      const path = p(`samples-${rec.iteration}.jsonl`);
      // After a crash mid-append the file may end in a torn line: start on a fresh line.
      const prev = await readText(path);
      const sep = prev && !prev.endsWith('\n') ? '\n' : '';
      await appendFile(path, sep + JSON.stringify(rec) + '\n');
    },
    async readPairs(it) {
      const t = await readText(p(`pairs-${it}.jsonl`));
      return t === null
        ? null
        : t
            .split('\n')
            .filter((l) => l.trim())
            .map((l) => JSON.parse(l) as PairRecord);
    },
    writePairs: (it, pairs) => writeAtomic(p(`pairs-${it}.jsonl`), pairs.map((x) => JSON.stringify(x) + '\n').join('')),
    async readAdapter(it) {
      try {
        const d = p(`adapter-${it}`);
        const state = await readFile(join(d, 'trainer_state.json')).catch(() => null);
        return {
          'adapter_config.json': await readFile(join(d, 'adapter_config.json')),
          'adapter_model.safetensors': await readFile(join(d, 'adapter_model.safetensors')),
          ...(state ? { 'trainer_state.json': state } : {}),
        };
      } catch {
        return null;
      }
    },
    async writeAdapter(it, files: AdapterFiles) {
      const tmp = p(`adapter-${it}.tmp`);
      await mkdir(tmp, { recursive: true });
      for (const [name, bytes] of Object.entries(files)) {
        await writeFile(join(tmp, name), bytes);
        await crashPoint('adapter-file');
      }
      await rename(tmp, p(`adapter-${it}`));
    },
    async readMetrics(it) {
      const t = await readText(p(`metrics-${it}.json`));
      return t ? (JSON.parse(t) as IterationMetrics) : null;
    },
    writeMetrics: (it, m) => writeAtomic(p(`metrics-${it}.json`), JSON.stringify(m, null, 2) + '\n'),
  };
}
