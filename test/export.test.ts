// Export and import: TRL JSONL pairs, PEFT adapter zips, metrics CSV.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { zipSync } from 'fflate';
import {
  adapterFromZip,
  adapterToZip,
  metricsFromCsv,
  metricsToCsv,
  pairsFromJsonl,
  pairsToJsonl,
} from '../src/tpo/export';
import { loadCheckpoint } from '../src/model/checkpoint';
import { folderSource } from '../src/model/source-node';
import { LoraLayout, TARGETS } from '../src/train/lora';
import { loadAdapter, saveAdapter } from '../src/train/peft';
import type { IterationMetrics, PairRecord } from '../src/tpo/store';
import { writeTinyModel } from './helpers/tiny-model';

describe('export / import', () => {
  it('pairs: TRL conversational JSONL round trip; plain TRL rows import as single turns; bad rows rejected', () => {
    const pairs: PairRecord[] = [
      {
        prompt: [{ role: 'user', content: 'Q' }],
        chosen: [{ role: 'assistant', content: 'T: x R: 1' }],
        rejected: [{ role: 'assistant', content: 'R: 2' }],
      },
    ];
    expect(pairsFromJsonl(pairsToJsonl(pairs))).toEqual(pairs);
    expect(pairsFromJsonl('{"prompt": "p", "chosen": "c", "rejected": "r"}\n')).toEqual([
      {
        prompt: [{ role: 'user', content: 'p' }],
        chosen: [{ role: 'assistant', content: 'c' }],
        rejected: [{ role: 'assistant', content: 'r' }],
      },
    ]);
    expect(() => pairsFromJsonl('{"prompt": "p", "chosen": 3, "rejected": "r"}')).toThrow(/"chosen" must be/);
    expect(() => pairsFromJsonl('{oops')).toThrow(/line 1: not valid JSON/);
  });

  it('adapters: PEFT zip round trip (also from a zip with a folder inside)', async () => {
    const dir = writeTinyModel(mkdtempSync(join(tmpdir(), 'tpo-exp-')), { seed: 3 });
    const ck = await loadCheckpoint(folderSource(dir));
    const layout = new LoraLayout(ck.config, { r: 2, alpha: 4, targets: [...TARGETS] });
    const values = layout.init(9);
    const files = saveAdapter(layout, values, 'tiny/model');
    const back = adapterFromZip(adapterToZip(files));
    expect(
      Array.from(loadAdapter(ck.config, back['adapter_config.json'], back['adapter_model.safetensors']).values),
    ).toEqual(Array.from(values));
    const nested = adapterFromZip(
      zipSync({
        'my-adapter/adapter_config.json': files['adapter_config.json'],
        'my-adapter/adapter_model.safetensors': files['adapter_model.safetensors'],
      }),
    );
    expect(nested['adapter_model.safetensors']).toEqual(files['adapter_model.safetensors']);
    expect(() => adapterFromZip(new Uint8Array([1, 2, 3]))).toThrow(/not a valid zip/);
    expect(() => adapterFromZip(zipSync({ 'x.txt': new Uint8Array([1]) }))).toThrow(/no adapter_config\.json/);
  });

  it('metrics: CSV with one row per iteration and the final DPO loss', () => {
    const m: IterationMetrics = {
      iteration: 0,
      instructions: 4,
      pairs: 3,
      skipped_all_tied: 1,
      skipped_too_few: 0,
      unscored: 2,
      parse_failure_rate: 0.25,
      mean_score: 0.5,
      mean_thought_chars: 10,
      mean_response_chars: 2,
      chosen_response_chars: 1,
      rejected_response_chars: 3,
      dpo: [{ step: 1, epoch: 1, loss: 0.69, lr: 1e-3, grad_norm: 1, 'rewards/accuracies': 0.5 }],
    };
    const selection = { instructions: 2, candidates: [], chosen_epoch: 2 };
    const csv = metricsToCsv([
      m,
      { ...m, iteration: 1, dpo: [], selection, eval: { win_rate: 0.75, lc_win_rate: 0.7, win_rate_ci95: [0.5, 1] } },
    ]);
    expect(csv.split('\n')[0]).toBe(
      'iteration,instructions,pairs,skipped_all_tied,parse_failure_rate,mean_score,mean_thought_chars,mean_response_chars,chosen_response_chars,rejected_response_chars,final_dpo_loss,final_reward_accuracy,skipped_too_few,unscored,kept_epoch,win_rate,lc_win_rate',
    );
    expect(csv.split('\n')[1]).toBe('0,4,3,1,0.25,0.5,10,2,1,3,0.69,0.5,0,2,,,');
    expect(csv.split('\n')[2]).toBe('1,4,3,1,0.25,0.5,10,2,1,3,,,0,2,2,0.75,0.7');
    const back = metricsFromCsv(csv);
    expect(back[0]).toMatchObject({ iteration: 0, pairs: 3, parse_failure_rate: 0.25 });
    expect(Number.isNaN((back[1] as Record<string, number>).final_dpo_loss)).toBe(true);
    expect((back[1] as Record<string, number>).win_rate).toBe(0.75);
    expect(() => metricsFromCsv('a,b\n1,2')).toThrow(/lacks columns/);
  });
});
