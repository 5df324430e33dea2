// Reward-model training (Trainer.rm, `tpo rm`; TRL RewardTrainer semantics) on a tiny
// *ForSequenceClassification model: every full-parameter gradient of Σ coef·score, and the LoRA +
// score-head gradients over a 16-bit base, against central finite differences of the float64
// reference; the first loss at a zero score head, accuracy 1 on fixed pairs (full and LoRA), and
// the saved PEFT adapter (score head in modules_to_save) scoring as the trainer did.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { destroyWeights, uploadWeights } from '../src/engine/weights';
import { readF32 } from '../src/gpu/readback';
import { loadCheckpoint } from '../src/model/checkpoint';
import { folderSource } from '../src/model/source-node';
import { FullParams } from '../src/train/full';
import { tokenizeRewardPairs } from '../src/train/data';
import { auc } from '../src/demo/responses';
import { loadTokenizer } from '../src/model/tokenizer';
import { DEFAULT_TRAIN, type StepMetrics, Trainer } from '../src/train/trainer';
import { LoraLayout, LoraState, TARGETS } from '../src/train/lora';
import { loadAdapter, saveAdapter } from '../src/train/peft';
import { loadModel } from '../src/engine/model';
import { rng } from '../src/rng';
import { mergedRefWeights } from './reference/lora';
import { RefSequence, type RefWeights, refWeights } from './reference/llama';
import { numericGrad } from './reference/grad';
import { expectClose } from './helpers/compare';
import { noGpuErrors, testGpu } from './helpers/gpu';
import { writeTinyModel } from './helpers/tiny-model';

const tmp = () => mkdtempSync(join(tmpdir(), 'tpo-rmtrain-'));

/** The reference reward: the score head's output at the last token. */
function refScore(w: RefWeights, ids: number[]): number {
  const s = new RefSequence(w);
  let out!: Float64Array;
  for (const t of ids) out = s.step(t);
  return out[0];
}

/** `w` with one tensor replaced. */
const withTensor = (w: RefWeights, name: string, v: Float64Array): RefWeights => ({
  ...w,
  get: (n: string) => (n === name ? v : w.get(n)),
});

describe("the demo reward model's AUC", () => {
  it('is P(score of a right response > score of a wrong one), ties ½, by hand', () => {
    // right: 3, 1; wrong: 2, 1, 0 → pairs (3>2, 3>1, 3>0, 1<2, 1=1, 1>0) = 4.5 of 6
    expect(auc([3, 2, 1, 1, 0], [true, false, true, false, false])).toBe(4.5 / 6);
    expect(auc([1, 2], [true, true])).toBeNaN(); // no wrong response: undefined
  });
});

describe('reward-model rows (TRL RewardTrainer formats)', () => {
  it('texts with a prompt become [user, assistant] through the chat template; ids rows; over max length dropped', async () => {
    const dir = writeTinyModel(tmp(), { seed: 93, tokenizer: true, scoreLabels: 1 });
    const tok = (await loadTokenizer(folderSource(dir)))!;
    const { pairs, dropped } = tokenizeRewardPairs(
      [
        { prompt: 'Say hi', chosen: 'hi', rejected: 'bye', margin: 1.5 },
        { chosen: 'plain good text', rejected: 'plain bad' },
        {
          chosen: [
            { role: 'user', content: 'q' },
            { role: 'assistant', content: 'a' },
          ],
          rejected: [
            { role: 'user', content: 'q' },
            { role: 'assistant', content: 'b' },
          ],
        },
        { prompt_ids: [1, 2], chosen_ids: [3], rejected_ids: [4, 5] },
        { chosen_ids: Array.from({ length: 40 }, () => 7), rejected_ids: [8] },
      ],
      tok,
      32,
    );
    expect(dropped).toBe(1);
    expect(pairs).toHaveLength(4);
    const conv = (u: string, a: string) =>
      tok.applyChatTemplate(
        [
          { role: 'user', content: u },
          { role: 'assistant', content: a },
        ],
        false,
      );
    expect(pairs[0]).toEqual({ chosen: conv('Say hi', 'hi'), rejected: conv('Say hi', 'bye'), margin: 1.5 });
    expect(pairs[1]).toEqual({ chosen: tok.encode('plain good text'), rejected: tok.encode('plain bad') });
    expect(pairs[2].chosen).toEqual(conv('q', 'a'));
    expect(pairs[3]).toEqual({ chosen: [1, 2, 3], rejected: [1, 2, 4, 5] });
    expect(() => tokenizeRewardPairs([{ chosen: 'a', rejected: 'b', margin: 'x' }], tok, 32)).toThrow(/margin/);
    expect(() => tokenizeRewardPairs([{ chosen: 'a' }], tok, 32)).toThrow(/needs "chosen" and "rejected"/);
  });
});

describe("a reward model's PEFT adapter (score head in modules_to_save): bad files", () => {
  it('a missing or misshapen score head, or the adapter on a model with no score head, is a typed error', async () => {
    const rmCfg = (await loadCheckpoint(folderSource(writeTinyModel(tmp(), { seed: 96, scoreLabels: 1 })))).config;
    const lmCfg = (await loadCheckpoint(folderSource(writeTinyModel(tmp(), { seed: 96 })))).config;
    const layout = new LoraLayout(rmCfg, { r: 2, alpha: 4, targets: ['q_proj'] });
    const values = layout.init(1);
    const head = (H: number) => ({ name: 'score.weight' as const, shape: [1, H] as [number, number] });
    const good = saveAdapter(layout, values, 'rm', { ...head(rmCfg.hidden), data: new Float32Array(rmCfg.hidden) });
    expect(loadAdapter(rmCfg, good['adapter_config.json'], good['adapter_model.safetensors']).score?.shape).toEqual([
      1,
      rmCfg.hidden,
    ]);
    expect(() => loadAdapter(lmCfg, good['adapter_config.json'], good['adapter_model.safetensors'])).toThrow(
      /score head, and the model has none[\s\S]*ForSequenceClassification/,
    );
    const noHead = saveAdapter(layout, values, 'rm'); // weights without the head, config naming it
    expect(() => loadAdapter(rmCfg, good['adapter_config.json'], noHead['adapter_model.safetensors'])).toThrow(
      /modules_to_save names "score", and "base_model\.model\.score\.weight" is missing/,
    );
    const wide = saveAdapter(layout, values, 'rm', {
      ...head(rmCfg.hidden + 1),
      data: new Float32Array(rmCfg.hidden + 1),
    });
    expect(() => loadAdapter(rmCfg, wide['adapter_config.json'], wide['adapter_model.safetensors'])).toThrow(
      /"base_model\.model\.score\.weight" has shape \[1,\d+\], this model needs \[1,\d+\][\s\S]*different base model/,
    );
  });
});

describe('reward-model training', () => {
  for (const type of ['llama', 'qwen2'] as const)
    it(`${type}: full-parameter gradients of Σ coef·score (score head, norms, attention, MLP, embedding) equal finite differences`, async () => {
      const gpu = await testGpu();
      const dir = writeTinyModel(tmp(), {
        type,
        seed: 90,
        scoreLabels: 1,
        hidden: 16,
        intermediate: 24,
        layers: 2,
        vocab: 40,
      });
      const ck = await loadCheckpoint(folderSource(dir));
      const seqs = [
        [1, 5, 9, 3, 17],
        [1, 22, 7],
        [1, 30, 31, 32, 33, 34],
      ];
      const coef = [0.7, -1.3, 0.4];
      const weights = uploadWeights(gpu, ck, 'f32');
      const full = new FullParams(gpu.device, ck.config, weights);
      const trainer = new Trainer(gpu, ck.config, weights, { full, seqs: 3, seqLen: 6, recompute: false });
      const got = await noGpuErrors(gpu, async () => {
        trainer.zeroGrad();
        const pass = await trainer.scoreSeqs(seqs);
        trainer.backwardScores(pass, coef);
        const grads = new Map<string, Float32Array>();
        for (const g of full.groups) grads.set(g.name, await readF32(gpu.device, g.grads, g.length));
        return { scores: pass.scores, grads };
      });
      trainer.destroy();
      full.destroy();
      destroyWeights(weights);
      const w = refWeights(ck);
      expectClose(
        'scores',
        got.scores,
        seqs.map((s) => refScore(w, s)),
        1e-4,
        1e-5,
      );
      const loss = (ww: RefWeights) => seqs.reduce((a, s, i) => a + coef[i] * refScore(ww, s), 0);
      const names = [
        'score.weight',
        'model.norm.weight',
        'model.layers.1.mlp.down_proj.weight',
        'model.layers.0.self_attn.q_proj.weight',
        'model.layers.0.self_attn.v_proj.weight',
        'model.layers.0.input_layernorm.weight',
        'model.embed_tokens.weight',
        ...(type === 'qwen2' ? ['model.layers.0.self_attn.k_proj.bias'] : []),
      ];
      for (const name of names) {
        const want = numericGrad((x) => loss(withTensor(w, name, x)), w.get(name), 1e-5);
        expectClose(`d ${name}`, got.grads.get(name)!, want, 2e-3, 2e-5);
      }
    });

  it('LoRA over a bf16 base: the adapter and score-head (modules_to_save) gradients of Σ coef·score equal finite differences', async () => {
    const gpu = await testGpu();
    const dir = writeTinyModel(tmp(), {
      ...{ type: 'qwen2', seed: 94, scoreLabels: 1, hidden: 16, heads: 2, kvHeads: 1 },
      ...{ intermediate: 24, layers: 2, vocab: 40, dtype: 'BF16' },
    });
    const ck = await loadCheckpoint(folderSource(dir));
    const seqs = [
      [1, 5, 9, 3, 17],
      [1, 22, 7],
      [1, 30, 31, 32, 33, 34],
    ];
    const coef = [0.9, -1.1, 0.5];
    const layout = new LoraLayout(ck.config, { r: 2, alpha: 4, targets: [...TARGETS] });
    const flat = layout.init(5);
    const rand = rng(95);
    for (const m of layout.modules) for (let i = 0; i < m.B.length; i++) flat[m.B.offset + i] = (rand() * 2 - 1) * 0.3;
    const weights = uploadWeights(gpu, ck, 'bf16');
    expect([weights.wt, weights.headWt]).toEqual(['bf16', 'f32']);
    const state = new LoraState(gpu.device, layout, flat);
    const head = new FullParams(gpu.device, ck.config, weights, ['score.weight']);
    expect(head.groups.map((g) => g.name)).toEqual(['score.weight']);
    const trainer = new Trainer(gpu, ck.config, weights, {
      lora: { layout, state },
      full: head,
      seqs: 3,
      seqLen: 6,
      recompute: true,
    });
    const got = await noGpuErrors(gpu, async () => {
      trainer.zeroGrad();
      const pass = await trainer.scoreSeqs(seqs);
      trainer.backwardScores(pass, coef);
      const dLora = await readF32(gpu.device, state.grads, layout.length);
      const dHead = await readF32(gpu.device, head.groups[0].grads, head.groups[0].length);
      return { scores: pass.scores, dLora, dHead };
    });
    trainer.destroy();
    head.destroy();
    state.destroy();
    destroyWeights(weights);
    const base = refWeights(ck);
    const theta = Float64Array.from(flat);
    const loss = (w: RefWeights) => seqs.reduce((a, s, i) => a + coef[i] * refScore(w, s), 0);
    const merged = () => mergedRefWeights(base, layout, theta);
    expectClose(
      'scores',
      got.scores,
      seqs.map((s) => refScore(merged(), s)),
      1e-4,
      1e-5,
    );
    const dHead = numericGrad((x) => loss(withTensor(merged(), 'score.weight', x)), base.get('score.weight'), 1e-5);
    expectClose('d score.weight', got.dHead, dHead, 2e-3, 2e-5);
    for (const m of layout.modules)
      for (const which of ['A', 'B'] as const) {
        const v = m[which];
        const view = theta.subarray(v.offset, v.offset + v.length);
        const want = numericGrad((x) => (view.set(x), loss(merged())), view.slice(), 1e-5);
        view.set(flat.subarray(v.offset, v.offset + v.length));
        expectClose(
          `layer ${m.layer} ${m.target} d${which}`,
          got.dLora.subarray(v.offset, v.offset + v.length),
          want,
          2e-3,
          2e-5,
        );
      }
  });

  for (const mode of ['full', 'lora'] as const)
    it(`${mode}: from a zero score head the first loss is ln 2 a pair (with a margin, −log σ(−m)); training drives accuracy to 1 on fixed pairs${mode === 'lora' ? '; the saved PEFT adapter scores as the trainer' : ''}`, async () => {
      const gpu = await testGpu();
      const dir = writeTinyModel(tmp(), { type: 'llama', seed: 91, scoreLabels: 1 });
      const ck = await loadCheckpoint(folderSource(dir));
      const cfg = ck.config;
      const weights = uploadWeights(gpu, ck, 'f32');
      gpu.device.queue.writeBuffer(weights.lmHead[0].buffer, 0, new Float32Array(cfg.hidden)); // r ≡ 0
      const layout = mode === 'lora' ? new LoraLayout(cfg, { r: 4, alpha: 8, targets: [...TARGETS] }) : null;
      const state = layout && new LoraState(gpu.device, layout, layout.init(7));
      const full = new FullParams(gpu.device, cfg, weights, layout ? ['score.weight'] : undefined);
      const pairs = [
        { chosen: [1, 4, 9, 16], rejected: [1, 4, 9, 17] },
        { chosen: [1, 20, 21], rejected: [1, 20, 22, 23] },
        { chosen: [1, 30, 2, 2, 5], rejected: [1, 31, 2] },
        { chosen: [1, 8], rejected: [1, 9], margin: 0.5 },
      ];
      const trainer = new Trainer(gpu, cfg, weights, {
        ...{ lora: layout && state ? { layout, state } : undefined, full, seqs: 4, seqLen: 5 },
      });
      const steps: StepMetrics[] = [];
      const o = { ...DEFAULT_TRAIN, lr: 1e-2, epochs: 40, batchSize: 2, gradAccum: 2, seed: 3 };
      await noGpuErrors(gpu, () => trainer.rm(pairs, o, (m) => steps.push(m)));
      expect(steps).toHaveLength(40);
      // r ≡ 0: ln 2 a pair, and −log σ(−0.5) for the pair with margin 0.5 (one step holds all four)
      expect(steps[0].loss).toBeCloseTo((3 * Math.LN2 + Math.log1p(Math.exp(0.5))) / 4, 6);
      expect(steps[0].margin).toBe(0);
      expect(Object.keys(steps[0]).sort()).toEqual(
        [
          'accuracy',
          'epoch',
          'grad_norm',
          'loss',
          'lr',
          'margin',
          'max_reward',
          'mean_reward',
          'min_reward',
          'step',
        ].sort(),
      );
      const last = steps.at(-1)!;
      expect(last.accuracy).toBe(1);
      expect(last.loss).toBeLessThan(0.2);
      expect(last.min_reward).toBeLessThanOrEqual(last.mean_reward!);
      expect(last.mean_reward).toBeLessThanOrEqual(last.max_reward!);
      const trained: number[][] = [];
      for (const p of pairs) {
        const [rc, rr] = (await trainer.scoreSeqs([p.chosen, p.rejected])).scores;
        expect(rc).toBeGreaterThan(rr + (p.margin ?? 0));
        trained.push([rc, rr]);
      }
      if (layout && state) {
        // PEFT adapter: task SEQ_CLS, the score head saved whole; loaded over the base, it scores as trained
        const values = await readF32(gpu.device, state.params, layout.length);
        const score = (await full.download()).get('score.weight')!;
        const files = saveAdapter(layout, values, dir, { name: 'score.weight', shape: [1, cfg.hidden], data: score });
        const ac = JSON.parse(new TextDecoder().decode(files['adapter_config.json']));
        expect([ac.task_type, ac.modules_to_save]).toEqual(['SEQ_CLS', ['score']]);
        const back = loadAdapter(cfg, files['adapter_config.json'], files['adapter_model.safetensors']);
        expect(back.score?.data).toEqual(score);
        const m = await loadModel(gpu, folderSource(dir), { slots: 2, maxLen: 16, maxRows: 16 });
        const before = await m.score(pairs.map((p) => p.chosen));
        m.attachAdapter(back.layout, back.values, back.score);
        const after = await m.score(pairs.flatMap((p) => [p.chosen, p.rejected]));
        expectClose(
          'adapter scores',
          Float32Array.from(after.map((x) => x[0])),
          Float64Array.from(trained.flat()),
          1e-4,
          1e-5,
        );
        m.detachAdapter(); // the base's own score head again
        expect(await m.score(pairs.map((p) => p.chosen))).toEqual(before);
        m.destroy();
        state.destroy();
      }
      trainer.destroy();
      full.destroy();
      destroyWeights(weights);
    });
});
