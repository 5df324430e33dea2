// Headless Chromium (shipped inside npm @sparticuz/chromium) driven by playwright-core, with the
// flags that give a software WebGPU adapter (SwiftShader) on a machine without a GPU, and use the
// machine's GPU where there is one; and this project served by a Vite dev server for it to open.
// Shared by the browser tests and `npm run bench -- --browser`.

import { join } from 'node:path';
import chromium from '@sparticuz/chromium';
import { chromium as playwright, type Browser } from 'playwright-core';
import { createServer } from 'vite';

export async function launchBrowser(): Promise<Browser> {
  const executablePath = process.env.TPO_CHROMIUM ?? (await chromium.executablePath());
  return playwright.launch({
    executablePath,
    headless: true,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--enable-unsafe-webgpu',
      '--enable-unsafe-swiftshader',
      '--use-angle=swiftshader',
      '--enable-features=Vulkan',
      '--disable-background-networking',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

export interface AppServer {
  /** The dev server's root URL (index.html; bench/index.html under it). */
  url: string;
  browser: Browser;
  close(): Promise<void>;
}

/** The project (`root`, the folder of package.json) on a Vite dev server on a free port, and a browser to open it in. */
export async function startAppServer(root: string): Promise<AppServer> {
  const vite = await createServer({
    configFile: join(root, 'vite.config.ts'),
    root,
    logLevel: 'error',
    server: { port: 0, host: '127.0.0.1' },
  });
  await vite.listen();
  const browser = await launchBrowser();
  return {
    url: vite.resolvedUrls!.local[0],
    browser,
    close: async () => {
      await browser.close();
      await vite.close();
    },
  };
}
