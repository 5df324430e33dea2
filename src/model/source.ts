// Where model files come from: a local folder (Node), File objects (browser drag-and-drop),
// or a hub repo ({base}/{repo}/resolve/{revision}/{file}) with a cache. All report byte progress.

import { ModelSourceError } from '../errors';

export interface Progress {
  file: string;
  loaded: number;
  /** Total bytes, or 0 when the server did not say. */
  total: number;
}
export type ProgressFn = (p: Progress) => void;

export interface ModelSource {
  /** Human-readable origin, for messages ("folder /x", "hub HuggingFaceTB/SmolLM2-135M"). */
  label: string;
  /** Reads a whole file; returns null when the file does not exist. */
  read(file: string, onProgress?: ProgressFn): Promise<Uint8Array | null>;
}

/** Reads a file that must exist. */
export async function readRequired(src: ModelSource, file: string, onProgress?: ProgressFn): Promise<Uint8Array> {
  const b = await src.read(file, onProgress);
  if (!b)
    throw new ModelSourceError(
      `${src.label}: ${file} not found`,
      'A model folder needs config.json and model.safetensors (or model.safetensors.index.json with its shards).',
    );
  return b;
}

export async function readJson(src: ModelSource, file: string, required: boolean): Promise<unknown> {
  const b = required ? await readRequired(src, file) : await src.read(file);
  if (!b) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(b));
  } catch (e) {
    throw new ModelSourceError(`${src.label}: ${file} is not valid JSON (${(e as Error).message})`);
  }
}

/** Browser drag-and-drop: files keyed by their base name. */
export function fileListSource(files: Iterable<File>, label = 'dropped files'): ModelSource {
  const byName = new Map<string, File>();
  for (const f of files) byName.set(f.name, f);
  return {
    label,
    async read(file, onProgress) {
      const f = byName.get(file);
      if (!f) return null;
      const buf = new Uint8Array(await f.arrayBuffer());
      onProgress?.({ file, loaded: buf.byteLength, total: buf.byteLength });
      return buf;
    },
  };
}

/** A byte cache for hub downloads (browser: Cache API; Node: a folder). Files the hub does not
 *  have (404, e.g. an optional generation_config.json) can be remembered too, as huggingface_hub's
 *  `.no_exist` entries are, so a cached model loads with no request at all. */
export interface ByteCache {
  get(key: string): Promise<Uint8Array | null>;
  put(key: string, bytes: Uint8Array): Promise<void>;
  isAbsent?(key: string): Promise<boolean>;
  markAbsent?(key: string): Promise<void>;
}

export interface HubOptions {
  /** Default https://huggingface.co; tests point it at a local server. */
  baseUrl?: string;
  revision?: string;
  cache?: ByteCache;
  fetch?: typeof fetch;
  /** Optional access token for gated repos (sent as a Bearer header, never stored). */
  token?: string;
}

export const DEFAULT_HUB = 'https://huggingface.co';

export function hubFileUrl(repo: string, file: string, opts: HubOptions = {}): string {
  const base = (opts.baseUrl ?? DEFAULT_HUB).replace(/\/+$/, '');
  return `${base}/${repo}/resolve/${encodeURIComponent(opts.revision ?? 'main')}/${file}`;
}

export function hubSource(repo: string, opts: HubOptions = {}): ModelSource {
  if (!/^[\w.-]+\/[\w.-]+$/.test(repo))
    throw new ModelSourceError(
      `"${repo}" is not a hub repo id`,
      'Use the form owner/name, e.g. HuggingFaceTB/SmolLM2-135M-Instruct.',
    );
  const doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  return {
    label: `hub ${repo}`,
    async read(file, onProgress) {
      const url = hubFileUrl(repo, file, opts);
      const cached = await opts.cache?.get(url);
      if (cached) {
        onProgress?.({ file, loaded: cached.byteLength, total: cached.byteLength });
        return cached;
      }
      if (await opts.cache?.isAbsent?.(url)) return null;
      let res: Response;
      try {
        res = await doFetch(url, { headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {} });
      } catch (e) {
        throw new ModelSourceError(
          `Could not reach ${url}: ${(e as Error).message}`,
          'Check the network connection and the hub base URL.',
        );
      }
      if (res.status === 404) {
        await opts.cache?.markAbsent?.(url).catch(() => {});
        return null;
      }
      if (res.status === 401 || res.status === 403)
        throw new ModelSourceError(
          `${url}: HTTP ${res.status}`,
          'The repo is gated or private: accept its licence on the hub and pass an access token.',
        );
      if (!res.ok) throw new ModelSourceError(`${url}: HTTP ${res.status} ${res.statusText}`, 'Try again later.');
      const total = Number(res.headers.get('content-length') ?? 0);
      const bytes = await readBody(res, file, total, onProgress);
      if (total && bytes.byteLength !== total)
        throw new ModelSourceError(
          `${url}: download ended after ${bytes.byteLength} of ${total} bytes`,
          'Try again; nothing partial was cached.',
        );
      // Caching is best effort: a full disk must not stop the model from loading.
      await opts.cache
        ?.put(url, bytes)
        .catch((e: Error) => console.warn(`not cached (${e.name}: ${e.message}): ${url}`));
      return bytes;
    },
  };
}

async function readBody(res: Response, file: string, total: number, onProgress?: ProgressFn): Promise<Uint8Array> {
  if (!res.body) {
    const b = new Uint8Array(await res.arrayBuffer());
    onProgress?.({ file, loaded: b.byteLength, total: total || b.byteLength });
    return b;
  }
  const reader = res.body.getReader();
  // Preallocate when the size is known; otherwise collect chunks.
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  let out = total ? new Uint8Array(total) : null;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (out && loaded + value.byteLength <= out.byteLength) out.set(value, loaded);
    else {
      if (out) {
        chunks.push(out.subarray(0, loaded));
        out = null;
      }
      chunks.push(value);
    }
    loaded += value.byteLength;
    onProgress?.({ file, loaded, total });
  }
  if (out) return out.subarray(0, loaded);
  const joined = new Uint8Array(loaded);
  let p = 0;
  for (const c of chunks) {
    joined.set(c, p);
    p += c.byteLength;
  }
  return joined;
}

const sha256 = async (bytes: Uint8Array): Promise<string> =>
  Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)))
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');

/**
 * Browser cache for hub files, in the Cache API (survives reloads, evictable by the browser). Each
 * entry carries its length and SHA-256; an entry that no longer matches them (a damaged or
 * tampered cache) is deleted and reported as absent, so the file is fetched again.
 */
export function browserCache(name = 'tpo-hub-v2'): ByteCache {
  // Entries of the first cache carried no hash: dropped, never trusted (their files are fetched again).
  if (name === 'tpo-hub-v2') void caches.delete('tpo-hub-v1').catch(() => {});
  return {
    async get(key) {
      const cache = await caches.open(name);
      const r = await cache.match(key);
      if (!r || r.headers.get('x-tpo-absent')) return null;
      const bytes = new Uint8Array(await r.arrayBuffer());
      const ok =
        Number(r.headers.get('content-length')) === bytes.byteLength &&
        r.headers.get('x-tpo-sha256') === (await sha256(bytes));
      if (ok) return bytes;
      console.warn(`cached ${key} does not match its length and SHA-256: fetching it again`);
      await cache.delete(key);
      return null;
    },
    async put(key, bytes) {
      const body = new Blob([bytes as Uint8Array<ArrayBuffer>]);
      const headers = { 'content-length': String(bytes.byteLength), 'x-tpo-sha256': await sha256(bytes) };
      await (await caches.open(name)).put(key, new Response(body, { headers }));
    },
    async isAbsent(key) {
      return !!(await (await caches.open(name)).match(key))?.headers.get('x-tpo-absent');
    },
    async markAbsent(key) {
      await (await caches.open(name)).put(key, new Response(null, { headers: { 'x-tpo-absent': '1' } }));
    },
  };
}

/** Files served over HTTP under one base URL (the app's embedded model in public/). */
export function urlSource(baseUrl: string, fetchImpl: typeof fetch = globalThis.fetch.bind(globalThis)): ModelSource {
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
  return {
    label: `url ${base}`,
    async read(file, onProgress) {
      const url = new URL(file, base).href;
      let res: Response;
      try {
        res = await fetchImpl(url);
      } catch (e) {
        throw new ModelSourceError(`Could not fetch ${url}: ${(e as Error).message}`);
      }
      if (res.status === 404) return null;
      if (!res.ok) throw new ModelSourceError(`${url}: HTTP ${res.status}`);
      // Dev servers answer unknown paths with index.html: treat HTML as "not found".
      if ((res.headers.get('content-type') ?? '').includes('text/html')) return null;
      return readBody(res, file, Number(res.headers.get('content-length') ?? 0), onProgress);
    },
  };
}
