// Headless Chromium (bench/chromium.ts) with the app on a Vite dev server; a page's errors; the app's IndexedDB records read from inside the page.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { type AppServer, startAppServer } from '../../bench/chromium';

/** Where the browser tests save their screenshots. */
export const ARTIFACTS = join(__dirname, '../../test-artifacts');

/**
 * Saves a screenshot of the page in test-artifacts/ and, when `npm run screenshots` runs the
 * tests (TPO_SCREENSHOTS=docs/screenshots), as the picture the README and docs show.
 */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage });
  const docs = process.env.TPO_SCREENSHOTS;
  if (docs) await page.screenshot({ path: join(__dirname, '../..', docs, `${name}.png`), fullPage });
}

export type { AppServer };

/** The app on a Vite dev server on a free port, and a browser to open it in (bench/chromium.ts). */
export async function startApp(): Promise<AppServer> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return startAppServer(join(__dirname, '../..'));
}

/** Console errors and uncaught exceptions of a page, collected from now on. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}

/** All records of one object store of the app's database, read in the page with the raw IndexedDB API. */
export function readIdbStore<T = unknown>(page: Page, store: string): Promise<T[]> {
  return page.evaluate(
    (name) =>
      new Promise<T[]>((resolve, reject) => {
        const req = indexedDB.open('tpo-webgpu');
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const db = req.result;
          if (!db.objectStoreNames.contains(name)) return resolve([]);
          const get = db.transaction(name).objectStore(name).getAll();
          get.onsuccess = () => {
            resolve(get.result as T[]);
            db.close();
          };
          get.onerror = () => reject(get.error);
        };
      }),
    store,
  );
}

/** Waits until element `id` says "Done." or shows an error (a run's or a walkthrough's status), and returns its text. */
export async function settled(page: Page, id: 'run-status' | 'walk-status', timeout = 300_000): Promise<string> {
  await page.waitForFunction((el) => /Done\.|Error/.test(document.getElementById(el)!.textContent ?? ''), id, {
    timeout,
  });
  return (await page.textContent(`#${id}`))!;
}

/**
 * Runs a walkthrough of K samples and `steps` DPO steps from `seed` (the same draws every run) on the
 * Walkthrough screen; returns the final status and the stage titles.
 */
export async function runWalkthrough(
  page: Page,
  o: { k: number; steps: number; seed: number },
): Promise<{ status: string; titles: (string | null)[] }> {
  await page.click('#tab-walk');
  await page.fill('#walk-k', String(o.k));
  await page.fill('#walk-steps', String(o.steps));
  await page.fill('#walk-seed', String(o.seed));
  await page.click('#walk-run');
  const status = await settled(page, 'walk-status');
  return { status, titles: await page.$$eval('#walk-stages h3', (hs) => hs.map((h) => h.textContent)) };
}
