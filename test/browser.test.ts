// The real page and its Web Worker in headless Chromium on the software WebGPU adapter: load a
// model from a local hub-layout server and generate, and load the embedded model.

import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type ViteDevServer } from 'vite';
import type { Browser, Page } from 'playwright-core';
import { loadModel } from '../src/engine/model';
import { folderSource } from '../src/model/source-node';
import { launchBrowser } from './helpers/browser';
import { startHubServer, type HubServer } from './helpers/hub-server';
import { testGpu } from './helpers/gpu';
import { writeTinyModel } from './helpers/tiny-model';

const ARTIFACTS = join(__dirname, '../test-artifacts');
let vite: ViteDevServer;
let hub: HubServer;
let browser: Browser;
let appUrl: string;
let modelDir: string;

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'tpo-bhub-'));
  modelDir = writeTinyModel(join(root, 'tiny', 'chat-model'), { seed: 21, tokenizer: true, dtype: 'BF16' });
  hub = await startHubServer(root);
  vite = await createServer({ configFile: join(__dirname, '../vite.config.ts'), root: join(__dirname, '..'), logLevel: 'error', server: { port: 0, host: '127.0.0.1' } });
  await vite.listen();
  appUrl = vite.resolvedUrls!.local[0];
  browser = await launchBrowser();
  mkdirSync(ARTIFACTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await vite?.close();
  await hub?.close();
});

async function openPage(query: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(appUrl + query);
  return { page, errors };
}

describe('browser: the engine in a Web Worker', () => {
  it('loads a model from a hub-layout server and generates the same text as the Node engine', async () => {
    const { page, errors } = await openPage(`?repo=tiny/chat-model&hub=${encodeURIComponent(hub.url)}`);
    await page.click('#load');
    await page.waitForFunction(() => /hidden 32/.test(document.getElementById('model-status')!.textContent ?? '') || /Error/.test(document.getElementById('model-status')!.textContent ?? ''), null, { timeout: 120_000 });
    expect(await page.textContent('#model-status')).toMatch(/qwen2|llama/);
    await page.fill('#prompt', 'hello <b>there</b>');
    await page.fill('#max-new', '24');
    await page.click('#generate');
    await page.waitForFunction(() => /tokens in/.test(document.getElementById('gen-status')!.textContent ?? '') || /Error/.test(document.getElementById('gen-status')!.textContent ?? ''), null, { timeout: 120_000 });
    const text = await page.textContent('#output');
    const ids = (await page.getAttribute('#output', 'data-token-ids'))!.split(',').map(Number);
    await page.screenshot({ path: join(ARTIFACTS, 'browser-generate.png'), fullPage: true });

    // The same request through the Node engine (Dawn) gives the same greedy tokens.
    const m = await loadModel(await testGpu(), folderSource(modelDir), { slots: 1, maxLen: 256 });
    const prompt = m.tokenizer!.applyChatTemplate([{ role: 'user', content: 'hello <b>there</b>' }]);
    const [g] = await m.generate([prompt], { maxNewTokens: 24, temperature: 0 });
    m.destroy();
    expect(ids).toEqual(g.tokenIds);
    expect(text).toBe(g.text);
    expect(await page.$$eval('#output *', (els) => els.length)).toBe(0); // output is text, never HTML
    expect(errors).toEqual([]);
    await page.close();
  });

  it('loads the embedded model served from public/ and generates token ids', async () => {
    const { page, errors } = await openPage('');
    await page.click('#load');
    await page.waitForFunction(() => /stories260K/.test(document.getElementById('model-status')!.textContent ?? '') || /Error/.test(document.getElementById('model-status')!.textContent ?? ''), null, { timeout: 120_000 });
    expect(await page.textContent('#model-status')).toMatch(/stories260K \(embedded\): llama, 5 layers/);
    await page.fill('#max-new', '10');
    await page.click('#generate');
    await page.waitForFunction(() => /tokens in/.test(document.getElementById('gen-status')!.textContent ?? ''), null, { timeout: 120_000 });
    const ids = (await page.getAttribute('#output', 'data-token-ids'))!.split(',').map(Number);
    const m = await loadModel(await testGpu(), folderSource(join(__dirname, '../public/models/stories260K')), { slots: 1, maxLen: 64 });
    const [g] = await m.generate([[1]], { maxNewTokens: 10, temperature: 0 });
    m.destroy();
    expect(ids).toEqual(g.tokenIds);
    expect(errors).toEqual([]);
    await page.close();
  });
});
