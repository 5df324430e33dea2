// `npm run bench -- --browser`: the benchmark's rows measured inside headless Chromium's Web
// Worker (the app's path: Chromium's WebGPU, the worker, the same engine code), served by a Vite
// dev server from bench/index.html. Rows stream back as they are measured.

import { packageRoot } from '../src/cli/model-arg';
import { startAppServer } from './chromium';
import type { BenchPlan, Row, TrainRow } from './rows';

export async function benchInBrowser(
  plan: BenchPlan,
  onRow: (r: Row | TrainRow) => void,
  say: (line: string) => void,
): Promise<{ adapter: string; rows: Row[]; trainRows: TrainRow[] }> {
  const app = await startAppServer(packageRoot());
  const browser = app.browser;
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => say(`page error: ${e.message}`));
    await page.exposeFunction('onBenchRow', onRow);
    await page.goto(new URL('bench/index.html', app.url).href);
    say(`Chromium ${browser.version()}, benchmark page at ${page.url()}`);
    return await page.evaluate((p) => window.runBench(p), plan);
  } finally {
    await app.close();
  }
}
