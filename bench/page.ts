// The page of `npm run bench -- --browser`: starts the benchmark worker and hands each row to the
// harness (window.onBenchRow, exposed by bench/browser.ts) as it is measured.

import type { BenchPlan, Row, TrainRow } from './rows';
import type { BenchMessage } from './bench.worker';

declare global {
  interface Window {
    runBench(plan: BenchPlan): Promise<{ adapter: string; rows: Row[]; trainRows: TrainRow[] }>;
    onBenchRow?(row: Row | TrainRow): void;
  }
}

window.runBench = (plan) =>
  new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./bench.worker.ts', import.meta.url), { type: 'module' });
    worker.onerror = (e) => reject(new Error(e.message));
    worker.onmessage = (e: MessageEvent<BenchMessage>) => {
      const m = e.data;
      if (m.kind === 'row') window.onBenchRow?.(m.row);
      else if (m.kind === 'done') resolve(m);
      else reject(new Error(m.message));
      if (m.kind !== 'row') worker.terminate();
    };
    worker.postMessage(plan);
  });
