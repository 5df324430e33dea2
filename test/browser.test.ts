// The real page and its Web Worker in headless Chromium on the software WebGPU adapter: load a
// model from a local hub-layout server and generate, and load the embedded model.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { unzipSync } from 'fflate';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { loadModel } from '../src/engine/model';
import { folderSource } from '../src/model/source-node';
import {
  screenshot,
  pageErrors,
  readIdbStore,
  runWalkthrough,
  settled,
  startApp,
  type AppServer,
} from './helpers/browser';
import { startHubServer, type HubServer } from './helpers/hub-server';
import { testGpu } from './helpers/gpu';
import { writeTinyModel } from './helpers/tiny-model';
import { rewardModelJudge } from '../src/tpo/rm-judge';
import type { IterationMetrics, Sample } from '../src/tpo/store';

let app: AppServer;
let hub: HubServer;
let browser: Browser;
let appUrl: string;
let modelDir: string;
let rmDir: string;

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'tpo-bhub-'));
  modelDir = writeTinyModel(join(root, 'tiny', 'chat-model'), { seed: 21, tokenizer: true, dtype: 'BF16' });
  // untied head: a random tied model just repeats its last token; this one writes varied bytes
  writeTinyModel(join(root, 'tiny', 'chat-untied'), { seed: 23, tokenizer: true, tie: false });
  // a reward model (Qwen3ForSequenceClassification) to judge in the page beside the policy
  rmDir = writeTinyModel(join(root, 'tiny', 'reward-model'), {
    seed: 24,
    tokenizer: true,
    type: 'qwen3',
    scoreLabels: 1,
  });
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
    expect(await page.textContent('#model-status')).toMatch(/; 64 sequences a batch$/); // wide batches in the page too
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

  it('a hub model loads again after a reload from Cache Storage with no request; a damaged cached file is fetched again', async () => {
    const query = `?repo=tiny/chat-untied&hub=${encodeURIComponent(hub.url)}`;
    const { page, errors } = await openPage(query);
    const load = async () => {
      await page.click('#load');
      await page.waitForFunction(
        () => /hidden 32|Error/.test(document.getElementById('model-status')!.textContent ?? ''),
        null,
        { timeout: 120_000 },
      );
      expect(await page.textContent('#model-status')).toMatch(/hidden 32/);
    };
    const mine = () => hub.requests.filter((r) => r.startsWith('/tiny/chat-untied/'));
    await load();
    const first = mine().length;
    expect(first).toBeGreaterThan(0);
    expect(mine()).toContain('/tiny/chat-untied/resolve/main/model.safetensors');
    await page.reload();
    await load();
    expect(mine().slice(first)).toEqual([]); // every file, and every file the hub lacks, from Cache Storage
    // Damage the cached weights (one byte flipped, headers kept): detected, dropped and fetched again.
    const damaged = await page.evaluate(async () => {
      for (const name of await caches.keys()) {
        const cache = await caches.open(name);
        for (const req of await cache.keys()) {
          if (!req.url.endsWith('/model.safetensors')) continue;
          const res = (await cache.match(req))!;
          const bytes = new Uint8Array(await res.arrayBuffer());
          bytes[bytes.length - 1] ^= 0xff;
          await cache.put(req, new Response(bytes, { headers: res.headers }));
          return req.url;
        }
      }
      return null;
    });
    expect(damaged).toMatch(/model\.safetensors$/);
    await page.reload();
    await load();
    expect(mine().slice(first)).toEqual(['/tiny/chat-untied/resolve/main/model.safetensors']);
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
    // done or failed: a failure then fails below with the page's own message, not a timeout
    await page.waitForFunction(
      () => /tokens in|Error/.test(document.getElementById('gen-status')!.textContent ?? ''),
      null,
      { timeout: 120_000 },
    );
    expect(await page.textContent('#gen-status')).toMatch(/tokens in/);
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
  // the settings these tests were written for (the form's defaults are the demo experiment's)
  await page.fill('#k', '8');
  await page.fill('#lr', '0.0005');
  await page.fill('#validation', '0');
  // Batches of 8 sequences: a run of a few instructions is several units, so it can be interrupted between them.
  await page.fill('#run-batch', '8');
  // A judge graded by length, two characters a step: a random model's outputs of different lengths
  // score differently, so instructions form pairs (all-equal scores would be skipped as ties).
  const graded = Array.from({ length: 15 }, (_, i) => ({ type: 'length', max: 2 * (i + 1), weight: 1 }));
  await page.fill('#rules', JSON.stringify(graded));
}

/** The tiny untied chat model from the hub server, loaded; the Train screen ready. */
async function openTinyModel(page: Page): Promise<void> {
  await page.goto(appUrl + `?repo=tiny/chat-untied&hub=${encodeURIComponent(hub.url)}`);
  await page.click('#load');
  await page.waitForFunction(() => !(document.getElementById('start') as HTMLButtonElement).disabled, null, {
    timeout: 120_000,
  });
}

/**
 * directRun with the direct prompt (every non-empty output parses, so pairs form and DPO runs in
 * the worker), K samples at T = 1 / top-p 1 of at most `maxNew` tokens; `tasks`: `count`
 * instructions "sum i add" (ids prefix + i), all in one iteration. With batches of 8 sequences and
 * K = 4 a unit holds two instructions.
 */
async function sampledDirectRun(
  page: Page,
  o: { k: number; maxNew: number; tasks?: { prefix: string; count: number; add: number } },
): Promise<void> {
  await directRun(page);
  await page.fill('#separator', '');
  await page.fill('#k', String(o.k));
  await page.fill('#run-temp', '1');
  await page.fill('#run-top-p', '1');
  await page.fill('#run-max-new', String(o.maxNew));
  if (!o.tasks) return;
  const { prefix, count, add } = o.tasks;
  const rows = Array.from({ length: count }, (_, i) => ({
    id: `${prefix}${i}`,
    instruction: `sum ${i} ${add}`,
    answer: i + add,
  }));
  await page.fill('#instructions', rows.map((r) => JSON.stringify(r)).join('\n'));
  await page.fill('#per-iteration', String(count));
}

type PageGlobals = {
  tpoEngine: Record<'haltAt' | 'pauseAt', (point: string, n: number) => Promise<void>>;
  reached?: Promise<void>;
};

/**
 * Starts the form's run with a hook at the crash point after the first instruction's samples are
 * stored (tpo/fault.ts): `halt` stops the run there for good (then the test kills the page),
 * `pause` pauses it there, and Pause is pressed so that the status says so. Resolves once the run
 * is there — no race with the GPU's speed.
 */
async function holdAfterFirstSample(page: Page, how: 'halt' | 'pause'): Promise<void> {
  const hook: keyof PageGlobals['tpoEngine'] = how === 'halt' ? 'haltAt' : 'pauseAt';
  await page.evaluate((h) => {
    const g = globalThis as unknown as PageGlobals;
    g.reached = g.tpoEngine[h]('sample-stored', 1); // posted to the worker before the run starts
  }, hook);
  await page.click('#start');
  await page.evaluate(() => (globalThis as unknown as PageGlobals).reached);
  if (how === 'halt') return;
  await page.click('#pause');
  await page.waitForFunction(() => /paused/.test(document.getElementById('run-status')!.textContent ?? ''), null, {
    timeout: 300_000,
  });
}

describe('browser: a TPO run in the worker with records in IndexedDB', () => {
  it('killing the page mid-iteration and starting again resumes with nothing lost or duplicated', async () => {
    const context = await browser.newContext();
    const open = async () => {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await openTinyModel(page);
      await sampledDirectRun(page, { k: 3, maxNew: 10 });
      return { page, errors };
    };
    const first = await open();
    // the run halts for good right after its first instruction is stored (a crash point of
    // tpo/fault.ts), and the page (with its worker) is killed there: no race with the GPU's speed
    await holdAfterFirstSample(first.page, 'halt');
    const before = (await readIdbStore(first.page, 'samples')) as { id: string }[];
    expect(before.length).toBe(1);
    await first.page.close();

    const second = await open();
    await second.page.click('#start');
    expect(await settled(second.page, 'run-status')).toBe('Done.');
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

  it('an HTTP-judged iteration uses the API key and stores it nowhere: not in IndexedDB, an export, Cache Storage or localStorage', async () => {
    const SECRET = 'sk-test-NEVER-STORED-7f3a9c';
    const auth: (string | undefined)[] = [];
    // An OpenAI-compatible pair-wise judge that prefers the shorter answer, open to the page's origin.
    const judge = createServer((req, res) => {
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.setHeader('Access-Control-Allow-Headers', 'authorization, content-type');
      if (req.method === 'OPTIONS') return void res.end();
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        auth.push(req.headers.authorization);
        const user: string = JSON.parse(body).messages[1].content;
        const answer = (who: string) =>
          user.split(`[The Start of Assistant ${who}'s Answer]\n`)[1].split('\n[The End')[0];
        const verdict = answer('A').length <= answer('B').length ? '[[A]]' : '[[B]]';
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: verdict } }] }));
      });
    });
    await new Promise<void>((ok) => judge.listen(0, '127.0.0.1', ok));
    const judgeUrl = `http://127.0.0.1:${(judge.address() as { port: number }).port}/v1`;
    const page = await (await browser.newContext()).newPage();
    try {
      await openTinyModel(page);
      await sampledDirectRun(page, { k: 3, maxNew: 10 });
      await page.fill('#run-id', 'http-judged');
      await page.fill('#http-judge', `${judgeUrl}#judge-model`);
      await page.fill('#http-key', SECRET);
      await page.click('#start');
      expect(await settled(page, 'run-status')).toBe('Done.');
      expect(auth.length).toBeGreaterThan(0);
      expect(new Set(auth)).toEqual(new Set([`Bearer ${SECRET}`])); // the key was used for every judgement
      expect(((await readIdbStore(page, 'metrics')) as unknown[]).length).toBe(1);
      // Every stored byte the page can reach, searched for the key.
      const found = await page.evaluate(async (secret) => {
        const hits: string[] = [];
        const text = (v: unknown): string =>
          v instanceof Uint8Array || v instanceof ArrayBuffer
            ? new TextDecoder('latin1').decode(v)
            : typeof v === 'object' && v !== null
              ? Object.entries(v)
                  .map(([k, x]) => `${k}:${text(x)}`)
                  .join('|')
              : String(v);
        for (const info of await indexedDB.databases()) {
          const db = await new Promise<IDBDatabase>((ok, no) => {
            const r = indexedDB.open(info.name!);
            r.onsuccess = () => ok(r.result);
            r.onerror = () => no(r.error);
          });
          for (const store of Array.from(db.objectStoreNames)) {
            const all = await new Promise<unknown[]>((ok, no) => {
              const r = db.transaction(store).objectStore(store).getAll();
              r.onsuccess = () => ok(r.result);
              r.onerror = () => no(r.error);
            });
            if (text(all).includes(secret)) hits.push(`indexedDB ${info.name}/${store}`);
          }
          db.close();
        }
        for (const name of await caches.keys()) {
          const cache = await caches.open(name);
          for (const req of await cache.keys()) {
            const res = (await cache.match(req))!;
            const headers = JSON.stringify([...res.headers]);
            if ((req.url + headers + (await res.text())).includes(secret)) hits.push(`cache ${name} ${req.url}`);
          }
        }
        for (const store of [localStorage, sessionStorage])
          for (let i = 0; i < store.length; i++)
            if (`${store.key(i)}=${store.getItem(store.key(i)!)}`.includes(secret))
              hits.push(`storage ${store.key(i)}`);
        return hits;
      }, SECRET);
      expect(found).toEqual([]);
      // …and every exported file (zips opened).
      await page.click('#tab-data');
      await page.waitForSelector('#runs tbody tr');
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
      expect(exported.map((e) => e.name)).toContain('metrics.csv');
      for (const e of exported) {
        const bytes = Buffer.from(e.b64, 'base64');
        const files = e.name.endsWith('.zip') ? Object.values(unzipSync(bytes)) : [bytes];
        for (const f of files) expect(Buffer.from(f).toString('latin1'), e.name).not.toContain(SECRET);
      }
    } finally {
      await page.context().close();
      judge.closeAllConnections();
      await new Promise((ok) => judge.close(ok));
    }
  });

  it("a reward model on the GPU beside the policy (q8 weights) judges an iteration in the page: the Node engine's scores, pairs, DPO", async () => {
    const page = await (await browser.newContext()).newPage();
    const errors = pageErrors(page);
    await openTinyModel(page);
    await sampledDirectRun(page, { k: 3, maxNew: 10 });
    await page.fill('#run-id', 'rm-judged');
    await page.selectOption('#local-judge', 'rm');
    await page.fill('#judge-model', 'tiny/reward-model');
    await page.selectOption('#judge-dtype', 'q8');
    expect(await page.textContent('#judge-memory')).toMatch(
      /policy weights \d+ MiB, judge weights known once downloaded/,
    );
    await page.click('#start');
    expect(await settled(page, 'run-status')).toBe('Done.');
    const records = (
      await readIdbStore<{ runId: string; instruction: string; samples: Sample[] }>(page, 'samples')
    ).filter((r) => r.runId === 'rm-judged');
    const judged = records.flatMap((r) => r.samples.filter((x) => x.parsed).map((x) => ({ r, x })));
    expect(judged.length).toBeGreaterThan(0);
    // the same reward model in Node, q8 too: the page's judge scored [instruction, response], nothing else
    const rm = await loadModel(await testGpu(), folderSource(rmDir), {
      slots: 4,
      maxLen: 256,
      maxRows: 256,
      weightDtype: 'q8',
    });
    const want = await rewardModelJudge(rm, 'tiny/reward-model').score(
      judged.map(({ r, x }) => ({ instruction: r.instruction, response: x.response })),
    );
    rm.destroy();
    judged.forEach(({ x }, i) => expect(x.score).toBeCloseTo(want[i], 4));
    const metrics = (await readIdbStore<{ runId: string; metrics: IterationMetrics }>(page, 'metrics')).filter(
      (m) => m.runId === 'rm-judged',
    );
    expect(metrics).toHaveLength(1);
    expect(metrics[0].metrics.pairs).toBeGreaterThan(0);
    expect(metrics[0].metrics.dpo.length).toBeGreaterThan(0);
    const config = await page.evaluate(() =>
      (window as unknown as { tpoEngine: { runConfig(id: string): Promise<unknown> } }).tpoEngine.runConfig(
        'rm-judged',
      ),
    );
    expect(config).toMatchObject({
      judge: { kind: 'rm', model: { kind: 'hub', repo: 'tiny/reward-model', weightDtype: 'q8' } },
    });
    expect(errors).toEqual([]);
    await page.close();
  });

  it("the walkthrough judged by the Train screen's reward model: the demo model's responses get the reward model's scores, a pair, DPO steps", async () => {
    const { page, errors } = await openPage(`?hub=${encodeURIComponent(hub.url)}`);
    await page.click('#load'); // the embedded demo model (follows the thought format)
    await page.waitForFunction(() => !(document.getElementById('walk-run') as HTMLButtonElement).disabled, null, {
      timeout: 120_000,
    });
    await page.click('#tab-train');
    await page.selectOption('#local-judge', 'rm');
    await page.fill('#judge-model', 'tiny/reward-model');
    await page.click('#tab-walk');
    await page.selectOption('#walk-judge', 'train');
    const { status, titles } = await runWalkthrough(page, { k: 3, steps: 2, seed: 1 });
    expect(status).toBe('Done.');
    expect(titles.slice(2, 5).join(' | ')).toMatch(/Judge scores.*\|.*preference pair.*\|.*DPO steps/);
    // the reward model's scores of the shown responses, as the Node engine computes them
    const rows = await page.$$eval('#walk-stages li:nth-child(3) tr', (trs) =>
      trs.slice(1).map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')),
    );
    const scored = rows.filter((r) => r[1] !== '(parse failure)');
    expect(scored.length).toBeGreaterThan(1);
    const rm = await loadModel(await testGpu(), folderSource(rmDir), { slots: 4, maxLen: 512, maxRows: 256 });
    const instruction = await page.inputValue('#walk-instruction');
    const want = await rewardModelJudge(rm, 'rm').score(scored.map((r) => ({ instruction, response: r[1] })));
    rm.destroy();
    // shown to two decimals
    scored.forEach((r, i) => expect(Math.abs(Number(r[2]) - want[i])).toBeLessThanOrEqual(0.0051));
    expect(errors).toEqual([]);
    await page.close();
  });

  it('a full storage quota gives StorageQuotaError saying what to delete', async () => {
    // Chromium applies a quota override to an origin whose storage is not yet in use, so the
    // quota is set before anything is written: the run cannot even record its settings.
    const context = await browser.newContext();
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(appUrl).origin, quotaSize: 6000 });
    await openTinyModel(page);
    await directRun(page);
    await page.fill('#run-id', 'quota-run');
    await page.click('#start');
    const msg = await settled(page, 'run-status');
    expect(msg).toMatch(/StorageQuotaError: The browser storage quota is full; nothing already stored was lost/);
    expect(msg).toMatch(/Delete old runs or adapters in the Data view[\s\S]*export them first/);
    // the override belongs to the origin, not to this context: lift it for the tests after this one
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(appUrl).origin });
    await context.close();
  });

  it('a quota filled mid-run stops it with StorageQuotaError and keeps every stored unit; freed, it resumes to the results of an uninterrupted run', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    const origin = new URL(appUrl).origin;
    // Set before the origin stores anything (Chromium applies it only then); roomy enough for the run.
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 16 * 1024 * 1024 });
    try {
      await openTinyModel(page);
      await sampledDirectRun(page, { k: 4, maxNew: 8, tasks: { prefix: 'q', count: 8, add: 2 } });
      type Rec = { runId: string; id: string };
      const records = async (store: string, runId: string) =>
        ((await readIdbStore(page, store)) as Rec[])
          .filter((r) => r.runId === runId)
          .map(({ runId: _r, ...rest }) => rest);
      const finish = async () => {
        return settled(page, 'run-status');
      };
      const clearStatus = () => page.evaluate(() => (document.getElementById('run-status')!.textContent = ''));
      await page.fill('#run-id', 'quota-mid');
      // paused right after its first instruction is stored (a crash point): held between units
      // while the quota fills up, however fast the GPU
      await holdAfterFirstSample(page, 'pause');
      await page.waitForTimeout(3000); // a unit in flight finishes
      const kept = await records('samples', 'quota-mid');
      expect(kept.length).toBeGreaterThanOrEqual(1);
      expect(kept.length).toBeLessThan(8);
      // Another database takes every byte left: 1 MiB blocks, then smaller ones, until the quota says no.
      const filled = await page.evaluate(async () => {
        const db = await new Promise<IDBDatabase>((ok, no) => {
          const r = indexedDB.open('filler');
          r.onupgradeneeded = () => r.result.createObjectStore('blocks', { autoIncrement: true });
          r.onsuccess = () => ok(r.result);
          r.onerror = () => no(r.error);
        });
        let total = 0;
        for (const size of [1 << 20, 1 << 16, 1 << 12, 1 << 8])
          for (;;) {
            const tx = db.transaction('blocks', 'readwrite');
            tx.objectStore('blocks').add(new Uint8Array(size).fill(7));
            const ok = await new Promise<boolean>((done) => {
              tx.oncomplete = () => done(true);
              tx.onabort = () => done(false);
            });
            if (!ok) {
              if (tx.error?.name !== 'QuotaExceededError') throw tx.error;
              break;
            }
            total += size;
          }
        db.close();
        return total;
      });
      expect(filled).toBeGreaterThan(1 << 20);
      await page.click('#resume');
      const msg = await finish();
      expect(msg).toMatch(/StorageQuotaError: The browser storage quota is full; nothing already stored was lost/);
      const atFailure = await records('samples', 'quota-mid');
      expect(atFailure.length).toBeLessThan(8);
      for (const k of kept) expect(atFailure).toContainEqual(k); // every unit stored before is intact
      // Space freed: starting the same run again resumes it from its stored units.
      await page.evaluate(
        () =>
          new Promise((ok, no) => {
            const r = indexedDB.deleteDatabase('filler');
            r.onsuccess = ok;
            r.onerror = () => no(r.error);
          }),
      );
      // Chromium's quota accounting catches up with the deletion lazily (slower on a loaded machine):
      // start again once the origin's own estimate shows the space back.
      await page.waitForFunction(
        async () => {
          const { usage = 0, quota = 0 } = await navigator.storage.estimate();
          return quota - usage > 8 * 1024 * 1024;
        },
        null,
        { timeout: 60_000, polling: 250 },
      );
      // Its enforcement can lag the estimate a little longer: a start that still meets the quota stops
      // as before (nothing lost) and is pressed again, at most four times.
      let restarted = '';
      for (let attempt = 0; attempt < 4 && restarted !== 'Done.'; attempt++) {
        if (attempt) await page.waitForTimeout(2000);
        await clearStatus();
        await page.click('#start');
        restarted = await finish();
        if (restarted !== 'Done.') expect(restarted).toMatch(/^StorageQuotaError/);
      }
      expect(restarted).toBe('Done.');
      // The same settings run start to finish under another id: the same samples, pairs, adapter and metrics.
      await page.fill('#run-id', 'quota-ref');
      await clearStatus();
      await page.click('#start');
      expect(await finish()).toBe('Done.');
      const byId = (rs: Record<string, unknown>[]) => [...rs].sort((a, b) => String(a.id).localeCompare(String(b.id)));
      const resumed = byId(await records('samples', 'quota-mid'));
      expect(resumed).toHaveLength(8);
      expect(resumed).toEqual(byId(await records('samples', 'quota-ref')));
      for (const store of ['pairs', 'metrics'])
        expect(await records(store, 'quota-mid'), store).toEqual(await records(store, 'quota-ref'));
      // The adapters' bytes, read in the page (typed arrays do not cross into the test as they are).
      const adapterBytes = (runId: string) =>
        page.evaluate(
          (id) =>
            new Promise<string[]>((ok, no) => {
              const r = indexedDB.open('tpo-webgpu');
              r.onerror = () => no(r.error);
              r.onsuccess = () => {
                const get = r.result.transaction('adapters').objectStore('adapters').getAll();
                get.onerror = () => no(get.error);
                get.onsuccess = () =>
                  ok(
                    (get.result as { runId: string; config: Uint8Array; weights: Uint8Array }[])
                      .filter((a) => a.runId === id)
                      .flatMap((a) => [a.config, a.weights].map((b) => Array.from(b).join(','))),
                  );
              };
            }),
          runId,
        );
      const mine = await adapterBytes('quota-mid');
      expect(mine).toHaveLength(2);
      expect(mine[1].length).toBeGreaterThan(1000);
      expect(mine).toEqual(await adapterBytes('quota-ref'));
      const [m] = (await records('metrics', 'quota-mid')) as unknown as {
        metrics: { pairs: number; dpo: unknown[] };
      }[];
      expect(m.metrics.pairs).toBeGreaterThan(0); // DPO ran: the adapters compared are trained ones
      expect(m.metrics.dpo.length).toBeGreaterThan(0);
    } finally {
      await cdp.send('Storage.overrideQuotaForOrigin', { origin });
      await context.close();
    }
  });

  it('a GPU device lost mid-iteration stops the run with what happened and what to do; Start resumes it on a new device', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await openTinyModel(page);
      await sampledDirectRun(page, { k: 4, maxNew: 8, tasks: { prefix: 'd', count: 8, add: 3 } });
      await page.fill('#run-id', 'device-lost');
      const samples = async () =>
        ((await readIdbStore(page, 'samples')) as { runId: string; id: string }[]).filter(
          (r) => r.runId === 'device-lost',
        );
      await page.click('#start');
      for (let i = 0; i < 600 && (await samples()).length < 1; i++) await page.waitForTimeout(50);
      // Mid-iteration, the device goes away as after a driver reset.
      await page.evaluate(() =>
        (globalThis as unknown as { tpoEngine: { destroyDevice(): Promise<void> } }).tpoEngine.destroyDevice(),
      );
      const msg = await settled(page, 'run-status');
      expect(msg).toMatch(/DeviceLostError: The GPU device was lost \(destroyed\)[\s\S]*everything it stored is kept/);
      expect(msg).toMatch(/Press Start to resume it from its last stored unit/);
      expect(await page.isVisible('#banner')).toBe(true);
      expect(await page.textContent('#banner')).toMatch(/press Start to resume/);
      const kept = await samples();
      expect(kept.length).toBeGreaterThanOrEqual(1);
      expect(kept.length).toBeLessThan(8);
      // Start again: a new device, the model loaded onto it, the run resumed from its stored units.
      await page.evaluate(() => (document.getElementById('run-status')!.textContent = ''));
      await page.click('#start');
      expect(await settled(page, 'run-status')).toBe('Done.');
      const after = await samples();
      expect(after.map((r) => r.id).sort()).toEqual(['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6', 'd7']);
      for (const k of kept) expect(after).toContainEqual(k); // nothing stored was lost or redone
      expect(
        ((await readIdbStore(page, 'adapters')) as { runId: string }[]).filter((a) => a.runId === 'device-lost'),
      ).toHaveLength(1);
    } finally {
      await context.close();
    }
  });

  it('pause holds the run between units, resume continues it, cancel stops it with a clear message', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await openTinyModel(page);
    await sampledDirectRun(page, { k: 4, maxNew: 8, tasks: { prefix: 'p', count: 12, add: 1 } });
    await page.fill('#run-id', 'paused-run');
    const count = async () =>
      ((await readIdbStore(page, 'samples')) as { runId: string }[]).filter((r) => r.runId === 'paused-run').length;
    await holdAfterFirstSample(page, 'pause');
    expect(await page.textContent('#run-status')).not.toMatch(/Error/); // the run is going, not failed
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
    await settled(page, 'run-status');
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
