// A full-size real shape in the page: Qwen2.5-0.5B-Instruct with all 24 layers (seeded bf16
// weights of its real tensor names and shapes, 942 MiB, its real tokenizer and chat template),
// served by the local hub-layout server as the curated hub model, loaded in headless Chromium's
// worker. It answers one chat turn; the Model screen's memory estimate is within 15% of the bytes
// the worker allocated for the weights; and on a device with WebGPU's default limits (128 MiB a
// binding, `?limits=default`) it loads too, its 272 MB embedding split into chunks that fit.
// About two minutes on the software adapter (docs/testing.md).

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppServer, pageErrors, startApp } from './helpers/browser';
import { type HubServer, startHubServer } from './helpers/hub-server';
import { writeRealShapeModel } from './helpers/real-model';

const REPO = 'Qwen/Qwen2.5-0.5B-Instruct';
let app: AppServer;
let hub: HubServer;

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'tpo-fullsize-'));
  writeRealShapeModel('Qwen2.5-0.5B-Instruct', join(root, REPO)); // all 24 layers
  hub = await startHubServer(root);
  app = await startApp();
}, 300_000);

afterAll(async () => {
  await app?.close();
  await hub?.close();
});

/** Opens the page, chooses the curated Qwen2.5 entry served by the local hub and loads it. */
async function loadQwen(page: Page, query = ''): Promise<{ status: string; estimate: number; allocated: number }> {
  await page.goto(`${app.url}?hub=${encodeURIComponent(hub.url)}${query}`);
  await page.selectOption('#model-kind', `hub:${REPO}`);
  await page.waitForFunction(() => !!document.getElementById('memory')!.dataset.weightBytes);
  await page.click('#load');
  const done = () => /hidden \d+|Error/.test(document.getElementById('model-status')!.textContent ?? '');
  await page.waitForFunction(done, null, { timeout: 300_000 });
  const data = (id: string, key: string) => page.$eval(`#${id}`, (el, k) => (el as HTMLElement).dataset[k], key);
  return {
    status: (await page.textContent('#model-status')) ?? '',
    estimate: Number(await data('memory', 'weightBytes')),
    allocated: Number(await data('model-status', 'weightBytes')),
  };
}

describe('a full-size real shape in the page', () => {
  it('Qwen2.5-0.5B-Instruct (24 layers, bf16) loads from the hub, answers a chat turn; the estimate is within 15%', async () => {
    const page = await app.browser.newPage();
    const errors = pageErrors(page);
    const { status, estimate, allocated } = await loadQwen(page);
    expect(status).toMatch(/qwen2, 24 layers, hidden 896, bf16 weights/);
    expect(allocated).toBeGreaterThan(900 * 2 ** 20); // the whole model, kept 16-bit
    expect(Math.abs(estimate - allocated) / allocated).toBeLessThan(0.15);
    await page.click('#tab-chat');
    await page.uncheck('#think'); // random weights follow no thought format
    await page.click('#generate-panel summary');
    await page.fill('#prompt', 'Hi');
    await page.fill('#max-new', '2');
    await page.click('#generate');
    const finished = () => /tokens in|Error/.test(document.getElementById('gen-status')!.textContent ?? '');
    await page.waitForFunction(finished, null, { timeout: 300_000 });
    expect(await page.textContent('#gen-status')).toMatch(/^2 tokens in/);
    expect(errors).toEqual([]);
    await page.close();
  }, 600_000);

  it('on a device with WebGPU’s default limits the same model loads, its embedding split to fit 128 MiB', async () => {
    const page = await app.browser.newPage();
    const errors = pageErrors(page);
    const { status, allocated } = await loadQwen(page, '&limits=default');
    expect(status).toMatch(/qwen2, 24 layers, hidden 896, bf16 weights/);
    const binding = Number(await page.$eval('#model-status', (el) => (el as HTMLElement).dataset.maxBindingBytes));
    expect(binding).toBe(128 * 2 ** 20); // the default, not the adapter's maximum
    expect(allocated).toBeGreaterThan(900 * 2 ** 20);
    expect(errors).toEqual([]);
    await page.close();
  }, 600_000);
});
