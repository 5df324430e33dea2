// Node-only model sources: a local folder, and a cache folder for hub downloads.

import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { ModelSourceError } from '../errors';
import type { ByteCache, ModelSource } from './source';

export function folderSource(dir: string): ModelSource {
  const root = resolve(dir);
  return {
    label: `folder ${root}`,
    async read(file, onProgress) {
      const path = join(root, file);
      try {
        const b = new Uint8Array(await readFile(path));
        onProgress?.({ file, loaded: b.byteLength, total: b.byteLength });
        return b;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw new ModelSourceError(`Cannot read ${path}: ${(e as Error).message}`);
      }
    },
  };
}

export async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export function defaultCacheDir(): string {
  return process.env.TPO_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tpo-webgpu');
}

/** Hub downloads cached as files named by the URL's hash; written atomically (tmp + rename). */
export function folderCache(dir = defaultCacheDir()): ByteCache {
  const pathOf = (key: string) => join(dir, 'hub', createHash('sha256').update(key).digest('hex'));
  return {
    async get(key) {
      try {
        return new Uint8Array(await readFile(pathOf(key)));
      } catch {
        return null;
      }
    },
    async put(key, bytes) {
      const p = pathOf(key);
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p + '.part', bytes);
      await rename(p + '.part', p);
    },
    async isAbsent(key) {
      return stat(pathOf(key) + '.absent').then(
        () => true,
        () => false,
      );
    },
    async markAbsent(key) {
      const p = pathOf(key);
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p + '.absent', '');
    },
  };
}
