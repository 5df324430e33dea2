import { it } from 'vitest';
import { testGpu } from './helpers/gpu';
import { demoConfig, initTensors, memorySource, safetensorsBytes } from '../src/demo/init';
import { loadCheckpoint } from '../src/model/checkpoint';
import { uploadWeights } from '../src/engine/weights';
import { FullParams } from '../src/train/full';
import { DEFAULT_TRAIN, Trainer } from '../src/train/trainer';

for (const [H, L, T, S, rec] of [[128, 4, 64, 8, false], [64, 4, 64, 8, false]] as const) it(`H${H} L${L} T${T} S${S} rec ${rec}`, async () => {
  const gpu = await testGpu();
  const shape = { hidden: H, layers: L, heads: H / 32, kvHeads: Math.max(1, H / 64), intermediate: 3 * H, vocab: 512, maxPositions: 512 };
  const src = memorySource({ 'config.json': JSON.stringify(demoConfig(shape, 258, 256)), 'model.safetensors': safetensorsBytes(initTensors(shape, 1)) });
  const ck = await loadCheckpoint(src);
  const w = uploadWeights(gpu, ck, 'f32');
  const full = new FullParams(gpu.device, ck.config, w);
  const tr = new Trainer(gpu, ck.config, w, null, null, S, T, full, { recompute: rec });
  const seqs = Array.from({ length: S * 3 }, (_, i) => ({ ids: Array.from({ length: T }, (_, j) => (i * 31 + j * 7) % 500), completionStart: 4 }));
  const o = { ...DEFAULT_TRAIN, batchSize: S, lr: 1e-3 };
  let t = performance.now();
  const times: number[] = [];
  await tr.sft(seqs, o, (m) => { times.push(performance.now() - t); t = performance.now(); });
  console.log(`H${H} L${L} T${T} S${S} rec ${rec}: ms/step ${times.map((x) => x.toFixed(0)).join(' ')}`);
}, 600000);
