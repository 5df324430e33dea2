// The benchmark in a Web Worker (the app's path): the device as the app acquires it, stories260K
// from the app's public/ folder, the other shapes built in memory; every row posted as it comes.

import { acquireDevice } from '../src/gpu/device';
import { loadCheckpoint } from '../src/model/checkpoint';
import { urlSource } from '../src/model/source';
import { syntheticCheckpoint } from './synthetic';
import { type BenchPlan, type Row, runBench, type TrainRow } from './rows';

export type BenchMessage =
  | { kind: 'row'; row: Row | TrainRow }
  | { kind: 'done'; adapter: string; rows: Row[]; trainRows: TrainRow[] }
  | { kind: 'error'; message: string };

const post = (m: BenchMessage) => (self as unknown as Worker).postMessage(m);

self.onmessage = async (e: MessageEvent<BenchPlan>) => {
  try {
    const gpu = await acquireDevice(navigator.gpu);
    const load = (name: string) =>
      name === 'stories260K' || name === 'tpo-demo'
        ? loadCheckpoint(urlSource(new URL(`/models/${name}/`, self.location.origin).href))
        : Promise.resolve(syntheticCheckpoint(name));
    const r = await runBench(gpu, e.data, load, (row) => post({ kind: 'row', row }));
    post({ kind: 'done', adapter: gpu.adapterName, ...r });
  } catch (err) {
    post({ kind: 'error', message: `${(err as Error).name}: ${(err as Error).message}` });
  }
};
