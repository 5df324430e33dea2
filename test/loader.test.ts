// Checkpoint loading from a folder and from a hub-layout server: config validation, strict
// tensor checks, progress, the download cache, tokenizer and chat template.

import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelConfigError, ModelSourceError, SafetensorsError } from '../src/errors';
import { loadCheckpoint } from '../src/model/checkpoint';
import { parseConfig } from '../src/model/config';
import { hubSource, type Progress } from '../src/model/source';
import { folderCache, folderSource } from '../src/model/source-node';
import { loadTokenizer } from '../src/model/tokenizer';
import { loadModel } from '../src/engine/model';
import { startHubServer, type HubServer } from './helpers/hub-server';
import { testGpu } from './helpers/gpu';
import { writeTinyModel } from './helpers/tiny-model';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

describe('config.json validation', () => {
  const base = JSON.parse(readFileSync(join(__dirname, '../public/models/stories260K/config.json'), 'utf8'));
  it('reads the stories260K config', () => {
    const c = parseConfig(base);
    expect(c).toMatchObject({
      modelType: 'llama',
      hidden: 64,
      layers: 5,
      heads: 8,
      kvHeads: 4,
      headDim: 8,
      intermediate: 172,
      vocab: 512,
      tieEmbeddings: true,
      qkvBias: false,
      eosTokenIds: [2],
    });
  });
  it('qwen2 has q/k/v bias; generation_config adds EOS ids', () => {
    const c = parseConfig({ ...base, model_type: 'qwen2', eos_token_id: 5 }, { eos_token_id: [5, 7] });
    expect(c.qkvBias).toBe(true);
    expect(c.eosTokenIds).toEqual([5, 7]);
  });
  for (const [what, patch, msg] of [
    ['an unsupported architecture', { model_type: 'gpt2' }, /model_type "gpt2" is not supported/],
    ['a missing hidden_size', { hidden_size: undefined }, /hidden_size/],
    ['heads not divisible by kv heads', { num_key_value_heads: 3 }, /multiple/],
    ['gelu activation', { hidden_act: 'gelu' }, /silu/],
    ['rope scaling', { rope_scaling: { rope_type: 'yarn', factor: 4 } }, /rope_scaling/],
  ] as const) {
    it(`rejects ${what}`, () => expect(() => parseConfig({ ...base, ...patch })).toThrow(msg));
  }
  it('rejects a config that is not an object', () => expect(() => parseConfig([1])).toThrow(ModelConfigError));
});

describe('checkpoint loading from a folder', () => {
  it('a missing tensor is named in the error', async () => {
    const dir = writeTinyModel(tmp('tpo-ld-'), { seed: 1 });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: 3 }));
    await expect(loadCheckpoint(folderSource(dir))).rejects.toThrow(
      /tensor "model\.layers\.2\.input_layernorm\.weight" is missing/,
    );
  });
  it('a shape that does not match config.json is named in the error', async () => {
    const dir = writeTinyModel(tmp('tpo-ld-'), { seed: 1 });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, intermediate_size: 40 }));
    await expect(loadCheckpoint(folderSource(dir))).rejects.toThrow(
      /model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[48,32\], config\.json implies \[40,32\]/,
    );
  });
  it('a truncated safetensors file fails with SafetensorsError naming the file', async () => {
    const dir = writeTinyModel(tmp('tpo-ld-'), { seed: 1 });
    const f = readFileSync(join(dir, 'model.safetensors'));
    writeFileSync(join(dir, 'model.safetensors'), f.subarray(0, f.length - 100));
    await expect(loadCheckpoint(folderSource(dir))).rejects.toThrow(SafetensorsError);
    await expect(loadCheckpoint(folderSource(dir))).rejects.toThrow(/model\.safetensors: /);
  });
  it('a folder without config.json says what a model folder needs', async () => {
    await expect(loadCheckpoint(folderSource(tmp('tpo-empty-')))).rejects.toThrow(
      /config\.json not found[\s\S]*needs config\.json and model\.safetensors/,
    );
  });
});

describe('hub source against a local server in the hub layout', () => {
  let root: string;
  let hub: HubServer;
  beforeAll(async () => {
    root = tmp('tpo-hub-');
    writeTinyModel(join(root, 'tiny', 'chat-model'), { seed: 2, tokenizer: true, dtype: 'BF16', shards: 2 });
    mkdirSync(join(root, 'llama'), { recursive: true });
    cpSync(join(__dirname, '../public/models/stories260K'), join(root, 'llama', 'stories260K'), { recursive: true });
    hub = await startHubServer(root);
  });
  afterAll(() => hub.close());

  it('downloads with byte progress, caches (files the hub lacks too), and the second load makes no request', async () => {
    const cache = folderCache(tmp('tpo-cache-'));
    const events: Progress[] = [];
    const src = hubSource('tiny/chat-model', { baseUrl: hub.url, cache });
    const ck = await loadCheckpoint(src, (p) => events.push(p));
    expect(ck.config.hidden).toBe(32);
    const shard = events.filter((e) => e.file.startsWith('model-00001'));
    expect(shard.length).toBeGreaterThan(0);
    expect(shard[shard.length - 1].loaded).toBe(shard[shard.length - 1].total);
    const before = hub.requests.length;
    await loadCheckpoint(hubSource('tiny/chat-model', { baseUrl: hub.url, cache }));
    expect(hub.requests.slice(before)).toEqual([]); // a 404 is remembered as huggingface_hub's .no_exist is
    expect(hub.requests.some((r) => r === '/tiny/chat-model/resolve/main/model.safetensors.index.json')).toBe(true);
  });

  it('a cache that cannot store (full disk) does not stop the download', async () => {
    const full = {
      get: async () => null,
      put: async () => {
        throw new DOMException('full', 'QuotaExceededError');
      },
    };
    const ck = await loadCheckpoint(hubSource('tiny/chat-model', { baseUrl: hub.url, cache: full }));
    expect(ck.config.hidden).toBe(32);
  });

  it('a missing repo fails with ModelSourceError; an invalid repo id is rejected', async () => {
    await expect(loadCheckpoint(hubSource('nobody/nothing', { baseUrl: hub.url }))).rejects.toThrow(ModelSourceError);
    expect(() => hubSource('not a repo', { baseUrl: hub.url })).toThrow(/not a hub repo id/);
  });

  it('tokenizer and chat template load from the hub repo through @huggingface/transformers', async () => {
    const tok = (await loadTokenizer(hubSource('tiny/chat-model', { baseUrl: hub.url })))!;
    expect(tok).not.toBeNull();
    const text = tok.chatTemplateText([{ role: 'user', content: 'Hi ü' }]);
    expect(text).toBe('<|im_start|>user\nHi ü<|im_end|>\n<|im_start|>assistant\n');
    const ids = tok.applyChatTemplate([{ role: 'user', content: 'Hi ü' }]);
    expect(ids[0]).toBe(257); // <|im_start|>
    expect(tok.decode(ids, false)).toBe(text);
    expect(tok.decode(tok.encode('héllo wörld'))).toBe('héllo wörld');
    expect(tok.eosTokenIds).toEqual([258]);
    expect(await loadTokenizer(hubSource('llama/stories260K', { baseUrl: hub.url }))).toBeNull();
  });

  it('loads and generates from a hub repo: stories260K greedy equals the folder load', async () => {
    const gpu = await testGpu();
    const a = await loadModel(gpu, hubSource('llama/stories260K', { baseUrl: hub.url }), { slots: 1, maxLen: 64 });
    const b = await loadModel(gpu, folderSource(join(root, 'llama', 'stories260K')), { slots: 1, maxLen: 64 });
    const [x] = await a.generate([[1]], { maxNewTokens: 20, temperature: 0 });
    const [y] = await b.generate([[1]], { maxNewTokens: 20, temperature: 0 });
    expect(x.tokenIds).toEqual(y.tokenIds);
    expect(x.tokenIds.length).toBeGreaterThan(0);
    a.destroy();
    b.destroy();
  });

  it('text generation with the chat template and stop strings', async () => {
    const gpu = await testGpu();
    const m = await loadModel(gpu, hubSource('tiny/chat-model', { baseUrl: hub.url }), { slots: 2, maxLen: 96 });
    const prompt = m.tokenizer!.applyChatTemplate([{ role: 'user', content: 'hello' }]);
    const [free] = await m.generate([prompt], { maxNewTokens: 30, temperature: 0, eosTokenIds: [] });
    expect(free.text).toBe(m.tokenizer!.decode(free.tokenIds));
    // Use a piece of the free-running text as a stop string: output is cut right before it.
    const stop = free.text!.slice(5, 7);
    const [cut] = await m.generate([prompt], {
      maxNewTokens: 30,
      temperature: 0,
      eosTokenIds: [],
      stopStrings: [stop],
    });
    expect(cut.finishReason).toBe('stop');
    expect(cut.text).toBe(free.text!.slice(0, free.text!.indexOf(stop)));
    m.destroy();
  });
});

describe('File objects (browser drag-and-drop)', () => {
  it('loads a checkpoint and tokenizer from File objects', async () => {
    const { fileListSource } = await import('../src/model/source');
    const dir = writeTinyModel(tmp('tpo-files-'), { seed: 8, tokenizer: true });
    const names = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
    const files = names.map((n) => new File([readFileSync(join(dir, n))], n));
    const src = fileListSource(files);
    const ck = await loadCheckpoint(src);
    const ref = await loadCheckpoint(folderSource(dir));
    expect([...ck.tensors.keys()]).toEqual([...ref.tensors.keys()]);
    expect((await loadTokenizer(src))!.encode('abc')).toEqual([97, 98, 99]);
  });
});
