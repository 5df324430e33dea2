// Qwen3 (per-head q/k RMSNorm) and *ForSequenceClassification reward models on our engine, against
// the float64 reference; the reward-model judge scores conversations with the score head.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/engine/model';
import { loadCheckpoint } from '../src/model/checkpoint';
import { folderSource } from '../src/model/source-node';
import { rewardModelJudge } from '../src/tpo/rm-judge';
import { RefSequence, refLogits, refWeights } from './reference/llama';
import { expectClose } from './helpers/compare';
import { testGpu } from './helpers/gpu';
import { writeTinyModel } from './helpers/tiny-model';
import { refAsQuantized } from './helpers/stored-weights';

const tmp = () => mkdtempSync(join(tmpdir(), 'tpo-rm-'));

describe('Qwen3 and reward models', () => {
  it('Qwen3 causal LM (q/k norm) logits equal the float64 reference', async () => {
    const dir = writeTinyModel(tmp(), { type: 'qwen3', seed: 80 });
    const tokens = [1, 5, 9, 3, 17, 22, 40, 8];
    const want = refLogits(refWeights(await loadCheckpoint(folderSource(dir))), tokens);
    const m = await loadModel(await testGpu(), folderSource(dir), { slots: 1, maxLen: 16, maxRows: 16, maxOut: 16 });
    const got = await m.logits(tokens);
    const V = m.config.vocab;
    tokens.forEach((_, t) => expectClose(`qwen3 logits ${t}`, got.subarray(t * V, (t + 1) * V), want[t], 1e-4, 1e-4));
    const [g] = await m.generate([[1, 2]], { maxNewTokens: 5, temperature: 0, eosTokenIds: [] }); // decode path too
    expect(g.tokenIds).toHaveLength(5);
    m.destroy();
  });

  // q8: a reward model quantized at load (a judge that fits beside the policy), against the
  // reference on the dequantized weights
  for (const [type, quant] of [
    ['qwen3', undefined],
    ['llama', undefined],
    ['qwen3', 'q8'],
  ] as const) {
    it(`${type} ForSequenceClassification${quant ? `, ${quant} weights` : ''}: last-token scores of a ragged batch equal the reference`, async () => {
      const dir = writeTinyModel(tmp(), { type, seed: 81, scoreLabels: 1 });
      const exact = refWeights(await loadCheckpoint(folderSource(dir)));
      const w = quant ? refAsQuantized(exact, quant) : exact;
      const seqs = [
        [1, 4, 9, 16, 25],
        [1, 2],
        [1, 30, 31, 32, 33, 34, 35, 36, 37],
      ];
      const opts = { slots: 2, maxLen: 16, maxRows: 6, weightDtype: quant ?? ('auto' as const) }; // 2 slots, passes of 6 rows
      const m = await loadModel(await testGpu(), folderSource(dir), opts);
      expect(m.weights.wt).toBe(quant ?? 'f32');
      expect(m.config.head).toBe('score');
      const got = await m.score(seqs);
      seqs.forEach((s, i) => {
        const ref = new RefSequence(w);
        let out!: Float64Array;
        for (const t of s) out = ref.step(t);
        expectClose(`score ${i}`, got[i], out, 1e-4, 1e-5);
      });
      m.destroy();
    });
  }

  it('the reward-model judge scores [user: instruction, assistant: response] with the chat template', async () => {
    const dir = writeTinyModel(tmp(), { type: 'qwen3', seed: 82, scoreLabels: 1, tokenizer: true });
    const m = await loadModel(await testGpu(), folderSource(dir), { slots: 4, maxLen: 128, maxRows: 128 });
    const judge = rewardModelJudge(m, 'tiny-rm');
    const scores = await judge.score([
      { instruction: 'Say hi', response: 'hi' },
      { instruction: 'Say hi', response: 'hello there' },
    ]);
    const tok = m.tokenizer!;
    const direct = await m.score([
      tok.applyChatTemplate(
        [
          { role: 'user', content: 'Say hi' },
          { role: 'assistant', content: 'hi' },
        ],
        false,
      ),
    ]);
    expect(scores[0]).toBeCloseTo(direct[0][0], 6);
    expect(scores[0]).not.toBeCloseTo(scores[1], 6);
    m.destroy();
    const lm = await loadModel(await testGpu(), folderSource(writeTinyModel(tmp(), { seed: 1, tokenizer: true })), {
      slots: 1,
      maxLen: 16,
    });
    expect(() => rewardModelJudge(lm, 'lm')).toThrow(/not a reward model/);
    lm.destroy();
  });
});
