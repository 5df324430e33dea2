// The built site (`npm run build`): only what the page uses. ONNX Runtime, the model runtime of
// @huggingface/transformers that this project never runs (shims/README.md), leaves no wasm and
// none of its code in dist/; the site stays under its size budget (docs/benchmarks.md); and in
// headless Chromium the built tokenizer chunk still tokenizes and renders the chat templates of the
// demo model and of the real SmolLM2, Qwen2.5 and Qwen3 tokenizer files exactly as Node does.

import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Browser } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../bench/chromium';
import { folderSource } from '../src/model/source-node';
import { loadTokenizer } from '../src/model/tokenizer';

const ROOT = join(__dirname, '..');
const REAL = join(ROOT, '../shared/models/real');
const MODELS = {
  'tpo-demo': join(ROOT, 'public/models/tpo-demo'),
  'SmolLM2-135M-Instruct': join(REAL, 'SmolLM2-135M-Instruct'),
  'Qwen2.5-0.5B-Instruct': join(REAL, 'Qwen2.5-0.5B-Instruct'),
  'Qwen3-0.6B': join(REAL, 'Qwen3-0.6B'),
};
/** The site without its model folders (public/models): scripts, styles and the page. */
export const SITE_BUDGET_BYTES = 1024 * 1024;
const TEXT = 'Start at 7 and work mod 10: +3, *2. What is the result? Ünïcode, emoji 🙂 and  spaces.';
const MESSAGES = [{ role: 'user', content: 'What is 48 + 27?' }];

/** Runs in the page: the built tokenizer chunk on one model's files (a string, so that the test
 *  runner's transform leaves its import() alone). */
const IN_PAGE = `async ({ chunk, name, text, messages }) => {
  const t = await import('./assets/' + chunk);
  const get = async (f) => (await fetch('./tokenizer-files/' + name + '/' + f)).json();
  const [json, config] = await Promise.all([get('tokenizer.json'), get('tokenizer_config.json')]);
  const cls = String(config.tokenizer_class ?? '').replace(/Fast$/, '');
  const tokenizer = new (t[cls] ?? t.PreTrainedTokenizer)(json, config);
  // as src/model/tokenizer.ts renders: enable_thinking off (read only by templates that know it, e.g. Qwen3's)
  const rendered = tokenizer.apply_chat_template(messages, {
    add_generation_prompt: true,
    tokenize: false,
    enable_thinking: false,
  });
  return { ids: Array.from(tokenizer.encode(text)), rendered };
}`;

let out: string;
let server: PreviewServer;
let browser: Browser;

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
  );
}

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'tpo-build-'));
  await build({ root: ROOT, configFile: join(ROOT, 'vite.config.ts'), logLevel: 'error', build: { outDir: out } });
  server = await preview({
    root: ROOT,
    configFile: join(ROOT, 'vite.config.ts'),
    logLevel: 'error',
    build: { outDir: out },
    preview: { port: 0, host: '127.0.0.1' },
  });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('the built site', () => {
  it('holds no wasm and no ONNX Runtime code, and stays under its size budget', () => {
    const site = files(out).filter((f) => !relative(out, f).startsWith('models'));
    expect(site.some((f) => f.endsWith('index.html'))).toBe(true);
    expect(site.filter((f) => f.endsWith('.wasm'))).toEqual([]);
    for (const f of site.filter((x) => x.endsWith('.js'))) {
      const text = readFileSync(f, 'utf8');
      // markers of ONNX Runtime's own code (its wasm glue's entry points)
      for (const marker of ['_OrtInit', '_OrtCreateSession'])
        expect(text.includes(marker), `${relative(out, f)} has ${marker}`).toBe(false);
    }
    const bytes = site.reduce((s, f) => s + statSync(f).size, 0);
    expect(bytes).toBeLessThan(SITE_BUDGET_BYTES);
    expect(files(join(out, 'models', 'tpo-demo')).length).toBeGreaterThan(3); // the embedded model is still there
  });

  it('tokenizes and renders chat templates in the page as Node does (demo and real tokenizer files)', async () => {
    const chunk = readdirSync(join(out, 'assets')).find((f) => /^transformers\.web-.*\.js$/.test(f));
    expect(chunk, 'the tokenizer chunk').toBeDefined();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.route('**/tokenizer-files/**', (route) => {
      const [, name, file] = new URL(route.request().url()).pathname.match(/tokenizer-files\/([^/]+)\/(.+)$/)!;
      return route.fulfill({ body: readFileSync(join(MODELS[name as keyof typeof MODELS], file)) });
    });
    await page.goto(server.resolvedUrls!.local[0]);
    for (const [name, dir] of Object.entries(MODELS)) {
      const tok = (await loadTokenizer(folderSource(dir)))!;
      const args = JSON.stringify({ chunk, name, text: TEXT, messages: MESSAGES });
      const inPage = (await page.evaluate(`(${IN_PAGE})(${args})`)) as {
        ids: number[];
        rendered: string;
      };
      expect(inPage.ids, name).toEqual(tok.encode(TEXT));
      expect(inPage.ids.length, name).toBeGreaterThan(10);
      expect(inPage.rendered, name).toBe(tok.chatTemplateText(MESSAGES as never));
      expect(inPage.rendered, name).toContain('What is 48 + 27?');
    }
    expect(errors).toEqual([]);
    await page.close();
  });
});
