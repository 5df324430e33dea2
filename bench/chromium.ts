// Headless Chromium (shipped inside npm @sparticuz/chromium) driven by playwright-core, with the
// flags that give a software WebGPU adapter (SwiftShader) on a machine without a GPU, and use the
// machine's GPU where there is one. Shared by the browser tests and `npm run bench -- --browser`.

import chromium from '@sparticuz/chromium';
import { chromium as playwright, type Browser } from 'playwright-core';

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
