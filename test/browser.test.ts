// The real page and its Web Worker in headless Chromium on the software WebGPU adapter: load a
// model from a local hub-layout server and generate, and load the embedded model.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { loadModel } from '../src/engine/model';
import { folderSource } from '../src/model/source-node';
import { screenshot, pageErrors, readIdbStore, startApp, type AppServer } from './helpers/browser';
import { startHubServer, type HubServer } from './helpers/hub-server';
import { testGpu } from './helpers/gpu';
import { writeTinyModel } from './helpers/tiny-model';

let app: AppServer;
let hub: HubServer;
let browser: Browser;
let appUrl: string;
let modelDir: string;

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'tpo-bhub-'));
  modelDir = writeTinyModel(join(root, 'tiny', 'chat-model'), { seed: 21, tokenizer: true, dtype: 'BF16' });
  // untied head: a random tied model just repeats its last token; this one writes varied bytes
  writeTinyModel(join(root, 'tiny', 'chat-untied'), { seed: 23, tokenizer: true, tie: false });
  hub = await startHubServer(root);
  app = await startApp();
  ({ browser, url: appUrl } = app);
});

afterAll(async () => {
  await app?.close();
  await hub?.close();
});

async function openPage(query: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors = pageErrors(page);
  await page.goto(appUrl + query);
  return { page, errors };
}

describe('browser: the engine in a Web Worker', () => {
  it('loads a model from a hub-layout server and generates the same text as the Node engine', async () => {
    const { page, errors } = await openPage(`?repo=tiny/chat-model&hub=${encodeURIComponent(hub.url)}`);
    await page.click('#load');
    await page.waitForFunction(
      () =>
        /hidden 32/.test(document.getElementById('model-status')!.textContent ?? '') ||
        /Error/.test(document.getElementById('model-status')!.textContent ?? ''),
      null,
      { timeout: 120_000 },
    );
    expect(await page.textContent('#model-status')).toMatch(/qwen2|llama/);
    await page.click('#tab-chat');
    await page.uncheck('#think'); // a random model follows no thought format: answer directly
    await page.click('#generate-panel summary');
    await page.fill('#prompt', 'hello <b>there</b>');
    await page.fill('#max-new', '24');
    await page.click('#generate');
    await page.waitForFunction(
      () =>
        /tokens in/.test(document.getElementById('gen-status')!.textContent ?? '') ||
        /Error/.test(document.getElementById('gen-status')!.textContent ?? ''),
      null,
      { timeout: 120_000 },
    );
    const text = await page.textContent('#output');
    await screenshot(page, 'browser-generate');

    // The same request through the Node engine (Dawn) gives the same greedy tokens.
    const m = await loadModel(await testGpu(), folderSource(modelDir), { slots: 1, maxLen: 256 });
    const prompt = m.tokenizer!.applyChatTemplate([{ role: 'user', content: 'hello <b>there</b>' }]);
    const [g] = await m.generate([prompt], { maxNewTokens: 24, temperature: 0 });
    m.destroy();
    expect(text).toBe(g.text!.trim());
    expect(await page.$$eval('#output *, #chat-log .answer *', (els) => els.length)).toBe(0); // output is text, never HTML
    expect(await page.textContent('#chat-log .msg.user')).toBe('hello <b>there</b>');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('loads the embedded model served from public/ and generates token ids', async () => {
    const { page, errors } = await openPage('');
    await page.selectOption('#model-kind', 'embedded');
    await page.click('#load');
    await page.waitForFunction(
      () =>
        /stories260K/.test(document.getElementById('model-status')!.textContent ?? '') ||
        /Error/.test(document.getElementById('model-status')!.textContent ?? ''),
      null,
      { timeout: 120_000 },
    );
    expect(await page.textContent('#model-status')).toMatch(/stories260K \(embedded\): llama, 5 layers/);
    await page.click('#tab-chat');
    await page.click('#generate-panel summary');
    await page.fill('#max-new', '10');
    await page.click('#generate');
    await page.waitForFunction(() => /tokens in/.test(document.getElementById('gen-status')!.textContent ?? ''), null, {
      timeout: 120_000,
    });
    const ids = (await page.getAttribute('#output', 'data-token-ids'))!.split(',').map(Number);
    const m = await loadModel(await testGpu(), folderSource(join(__dirname, '../public/models/stories260K')), {
      slots: 1,
      maxLen: 64,
    });
    const [g] = await m.generate([[1]], { maxNewTokens: 10, temperature: 0 });
    m.destroy();
    expect(ids).toEqual(g.tokenIds);
    expect(errors).toEqual([]);
    await page.close();
  });
});

/** The Train screen set for a quick direct-prompt run of four toy instructions on a random model. */
async function directRun(page: Page): Promise<void> {
  await page.click('#tab-train');
  await page.fill(
    '#instructions',
    ['a', 'b', 'c', 'd'].map((id, i) => JSON.stringify({ id, instruction: `sum ${i} ${4 - i}`, answer: 4 })).join('\n'),
  );
  await page.fill('#template', '{instruction}');
  await page.fill('#iterations', '1');
  await page.fill('#per-iteration', '4');
  await page.fill('#epochs', '1');
  await page.fill('#rank', '4');
  await page.fill('#eval-count', '0');
}

describe('browser: a TPO run in the worker with records in IndexedDB', () => {
  it('killing the page mid-iteration and starting again resumes with nothing lost or duplicated', async () => {
    const context = await browser.newContext();
    const open = async () => {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(appUrl + `?repo=tiny/chat-untied&hub=${encodeURIComponent(hub.url)}`);
      await page.click('#load');
      await page.waitForFunction(() => !(document.getElementById('start') as HTMLButtonElement).disabled, null, {
        timeout: 120_000,
      });
      await directRun(page);
      await page.fill('#separator', ''); // the direct prompt: every non-empty output parses, so pairs form and DPO runs in the worker
      await page.fill('#rules', '[{"type": "length", "max": 6, "weight": 1}]');
      await page.fill('#k', '3');
      await page.fill('#run-temp', '1');
      await page.fill('#run-top-p', '1');
      await page.fill('#run-max-new', '10');
      return { page, errors };
    };
    const first = await open();
    await first.page.click('#start');
    // wait until some, not all, instructions are stored, then kill the page (and its worker)
    let before: { id: string }[] = [];
    for (let i = 0; i < 600 && before.length < 1; i++) {
      await first.page.waitForTimeout(50);
      before = (await readIdbStore(first.page, 'samples')) as { id: string }[];
    }
    expect(before.length).toBeGreaterThanOrEqual(1);
    expect(before.length).toBeLessThan(4);
    await first.page.close();

    const second = await open();
    await second.page.click('#start');
    await second.page.waitForFunction(
      () => /Done\.|Error/.test(document.getElementById('run-status')!.textContent ?? ''),
      null,
      { timeout: 300_000 },
    );
    expect(await second.page.textContent('#run-status')).toBe('Done.');
    const after = (await readIdbStore(second.page, 'samples')) as { id: string; samples: unknown[] }[];
    expect(after.map((r) => r.id).sort()).toEqual(['a', 'b', 'c', 'd']); // each instruction once
    for (const b of before) expect(after.find((r) => r.id === b.id)).toEqual(b); // kept as stored, not redone
    expect(after.every((r) => r.samples.length === 3)).toBe(true);
    const metrics = (await readIdbStore(second.page, 'metrics')) as {
      iteration: number;
      metrics: { pairs: number; dpo: unknown[] };
    }[];
    expect(metrics.map((m) => m.iteration)).toEqual([0]);
    expect((await readIdbStore(second.page, 'adapters')).length).toBe(1);
    expect(metrics[0].metrics.pairs).toBeGreaterThan(0);
    expect(metrics[0].metrics.dpo.length).toBeGreaterThan(0); // DPO ran in the worker
    expect(await second.page.textContent('#run-metrics')).toMatch(/iteration 0: \d+ pairs/);
    await screenshot(second.page, 'browser-tpo-run');

    // Export: TRL JSONL pairs, a PEFT zip, metrics CSV — as download links.
    const page = second.page;
    await page.click('#tab-data');
    await page.waitForSelector('#runs tbody tr');
    await screenshot(page, 'browser-data');
    await page.click('#export');
    await page.waitForSelector('#exports a');
    const exported = await page.$$eval('#exports a', (as) =>
      Promise.all(
        as.map(async (a) => ({
          name: (a as HTMLElement).dataset.name!,
          b64: btoa(
            String.fromCharCode(...new Uint8Array(await (await fetch((a as HTMLAnchorElement).href)).arrayBuffer())),
          ),
        })),
      ),
    );
    expect(exported.map((e) => e.name).sort()).toEqual(['adapter-0.zip', 'metrics.csv', 'pairs-0.jsonl']);
    const file = (n: string) => Buffer.from(exported.find((e) => e.name === n)!.b64, 'base64');
    expect(file('adapter-0.zip').subarray(0, 2).toString()).toBe('PK');
    expect(file('metrics.csv').toString().split('\n')[0]).toMatch(/^iteration,instructions,pairs,/);
    const pairLines = file('pairs-0.jsonl')
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(pairLines[0]).toMatchObject({
      prompt: [{ role: 'user' }],
      chosen: [{ role: 'assistant' }],
      rejected: [{ role: 'assistant' }],
    });

    // Import the three files into another run id.
    const dir = mkdtempSync(join(tmpdir(), 'tpo-export-'));
    for (const e of exported) writeFileSync(join(dir, e.name), file(e.name));
    expect(await page.inputValue('#data-run-id')).toBe('run-1'); // the Train screen's run
    await page.fill('#data-run-id', 'imported');
    await page.setInputFiles(
      '#import',
      exported.map((e) => join(dir, e.name)),
    );
    await page.waitForFunction(() => /Imported|Error/.test(document.getElementById('data-status')!.textContent ?? ''));
    expect(await page.textContent('#data-status')).toMatch(/Imported .* into run "imported"/);
    const importedPairs = (await readIdbStore(page, 'pairs')) as { runId: string; pairs: unknown[] }[];
    expect(importedPairs.find((p) => p.runId === 'imported')!.pairs).toEqual(pairLines);
    expect(
      ((await readIdbStore(page, 'adapters')) as { runId: string }[]).filter((a) => a.runId === 'imported'),
    ).toHaveLength(1);
    expect(
      ((await readIdbStore(page, 'metrics')) as { runId: string }[]).filter((a) => a.runId === 'imported'),
    ).toHaveLength(1);
    expect([...first.errors, ...second.errors]).toEqual([]);
    await context.close();
  });

  it('a full storage quota gives StorageQuotaError saying what to delete', async () => {
    // Chromium applies a quota override to an origin whose storage is not yet in use, so the
    // quota is set before anything is written: the run cannot even record its settings.
    const context = await browser.newContext();
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(appUrl).origin, quotaSize: 6000 });
    await page.goto(appUrl + `?repo=tiny/chat-untied&hub=${encodeURIComponent(hub.url)}`);
    await page.click('#load');
    await page.waitForFunction(() => !(document.getElementById('start') as HTMLButtonElement).disabled, null, {
      timeout: 120_000,
    });
    await directRun(page);
    await page.fill('#run-id', 'quota-run');
    await page.click('#start');
    await page.waitForFunction(
      () => /Done\.|Error/.test(document.getElementById('run-status')!.textContent ?? ''),
      null,
      { timeout: 300_000 },
    );
    const msg = (await page.textContent('#run-status'))!;
    expect(msg).toMatch(/StorageQuotaError: The browser storage quota is full; nothing already stored was lost/);
    expect(msg).toMatch(/Delete old runs or adapters in the Data view[\s\S]*export them first/);
    // the override belongs to the origin, not to this context: lift it for the tests after this one
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(appUrl).origin });
    await context.close();
  });

  it('pause holds the run between units, resume continues it, cancel stops it with a clear message', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(appUrl + `?repo=tiny/chat-untied&hub=${encodeURIComponent(hub.url)}`);
    await page.click('#load');
    await page.waitForFunction(() => !(document.getElementById('start') as HTMLButtonElement).disabled, null, {
      timeout: 120_000,
    });
    await directRun(page);
    await page.fill('#separator', '');
    await page.fill('#k', '4'); // 8 slots / 4 samples: two instructions per unit
    await page.fill('#run-temp', '1');
    await page.fill('#run-top-p', '1');
    await page.fill('#run-max-new', '8');
    await page.fill('#run-id', 'paused-run');
    await page.fill(
      '#instructions',
      Array.from({ length: 12 }, (_, i) =>
        JSON.stringify({ id: `p${i}`, instruction: `sum ${i} 1`, answer: i + 1 }),
      ).join('\n'),
    );
    await page.fill('#per-iteration', '12');
    await page.click('#start');
    const count = async () =>
      ((await readIdbStore(page, 'samples')) as { runId: string }[]).filter((r) => r.runId === 'paused-run').length;
    for (let i = 0; i < 600 && (await count()) < 1; i++) await page.waitForTimeout(50);
    expect(await page.textContent('#run-status')).not.toMatch(/Error/); // the run is going, not failed
    await page.click('#pause');
    await page.waitForFunction(() => /paused/.test(document.getElementById('run-status')!.textContent ?? ''));
    // the unit in flight may finish; after that nothing moves
    let held = await count();
    for (let i = 0; i < 40; i++) {
      await page.waitForTimeout(100);
      const c = await count();
      if (c !== held) {
        held = c;
        i = 0;
      }
      if (i >= 15) break;
    }
    await page.waitForTimeout(1000);
    expect(await count()).toBe(held);
    expect(held).toBeLessThan(12);
    await page.click('#resume');
    await page.waitForFunction(
      () => /Done\.|Error/.test(document.getElementById('run-status')!.textContent ?? ''),
      null,
      { timeout: 300_000 },
    );
    expect(await count()).toBe(12);

    await page.fill('#run-id', 'cancelled-run');
    await page.click('#start');
    await page.click('#cancel');
    await page.waitForFunction(() => /cancelled/.test(document.getElementById('run-status')!.textContent ?? ''), null, {
      timeout: 300_000,
    });
    expect(await page.textContent('#run-status')).toMatch(/UsageError: the run was cancelled[\s\S]*resume/);
    await context.close();
  });
});
