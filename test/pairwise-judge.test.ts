// The pair-wise LLM judge run by our engine (enginePairwiseJudge), on a tiny chat model that
// really emits verdicts: a random tiny Llama with a byte-level BPE tokenizer (merges learned from
// the judge prompts, so the paper's long prompt is a few dozen tokens), trained here by
// full-parameter SFT to answer the Self-Taught-Evaluator prompt for a known ranking of responses
// with "Answer X is better. [[X]]". Then the judge, through the real chat template, greedy decoding
// and verdict parsing, must give each ordered pair (both orders) the verdict of that ranking, and
// scoreGroup's Bradley–Terry scores must order the responses as the ranking does; a judge whose
// context cannot hold the prompt fails with what to change.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { trainBpe } from '../src/demo/bpe';
import { BYTE_VOCAB, byteTokenizerFiles } from '../src/demo/tokenizer';
import { loadModel } from '../src/engine/model';
import { destroyWeights, uploadWeights } from '../src/engine/weights';
import { loadCheckpoint } from '../src/model/checkpoint';
import { expectedTensors } from '../src/model/config';
import { writeSafetensors, type TensorToWrite } from '../src/model/safetensors';
import { folderSource } from '../src/model/source-node';
import { loadTokenizer } from '../src/model/tokenizer';
import { enginePairwiseJudge } from '../src/tpo/engine-judge';
import { pairwiseMessages, scoreGroup } from '../src/tpo/judges';
import { tokenizeSft } from '../src/train/data';
import { FullParams } from '../src/train/full';
import { DEFAULT_TRAIN, type StepMetrics, Trainer } from '../src/train/trainer';
import { noGpuErrors, testGpu } from './helpers/gpu';
import { writeTinyModel } from './helpers/tiny-model';

/** Two instructions, each with three responses best first. */
const GROUPS = [
  { instruction: 'What is 2 + 3?', ranked: ['5', '6', 'I do not know.'] },
  { instruction: 'Name a primary colour.', ranked: ['Red.', 'Purple.', 'Seven.'] },
];

/** Every ordered pair (a = ranked[i], b = ranked[j], i ≠ j) with the verdict of the ranking. */
function orderedPairs(g: (typeof GROUPS)[number]) {
  const out: { a: string; b: string; verdict: 'A' | 'B' }[] = [];
  g.ranked.forEach((a, i) =>
    g.ranked.forEach((b, j) => {
      if (i !== j) out.push({ a, b, verdict: i < j ? 'A' : 'B' });
    }),
  );
  return out;
}
const says = (v: 'A' | 'B') => `Answer ${v} is better. [[${v}]]`;

/** A tiny chat model whose tokenizer merges the judge prompts' recurring text into few tokens. */
async function tinyJudgeFolder(): Promise<string> {
  const pieces: string[] = [];
  for (const g of GROUPS)
    for (const p of orderedPairs(g)) {
      const [system, user] = pairwiseMessages(g.instruction, p.a, p.b);
      pieces.push(`system\n${system.content}`, `user\n${user.content}`, `assistant\n${says(p.verdict)}`);
    }
  const merges = trainBpe(pieces, 500, { useRegex: false });
  const dir = writeTinyModel(mkdtempSync(join(tmpdir(), 'tpo-pairwise-')), {
    ...{ seed: 97, tokenizer: true, vocab: BYTE_VOCAB + merges.length },
    ...{ hidden: 48, heads: 4, kvHeads: 2, intermediate: 96, layers: 2 },
  });
  for (const [name, text] of Object.entries(byteTokenizerFiles(merges, false))) writeFileSync(join(dir, name), text);
  return dir;
}

describe('pair-wise LLM judge on our engine', () => {
  it('a tiny chat model trained to judge: verdicts parsed from its greedy text, both orders, Bradley–Terry scores in ranking order', async () => {
    const gpu = await testGpu();
    const dir = await tinyJudgeFolder();
    const src = folderSource(dir);
    const ck = await loadCheckpoint(src);
    const tok = (await loadTokenizer(src))!;
    const rows = GROUPS.flatMap((g) =>
      orderedPairs(g).map((p) => ({
        messages: [...pairwiseMessages(g.instruction, p.a, p.b), { role: 'assistant', content: says(p.verdict) }],
      })),
    );
    const seqs = tokenizeSft(rows, tok, ck.config.eosTokenIds[0], 512);
    // the merges make the paper's prompt short enough to train on here
    expect(Math.max(...seqs.map((s) => s.ids.length))).toBeLessThan(64);

    // full-parameter SFT until the verdicts are learnt
    const weights = uploadWeights(gpu, ck, 'f32');
    const full = new FullParams(gpu.device, ck.config, weights);
    const T = Math.max(...seqs.map((s) => s.ids.length));
    const trainer = new Trainer(gpu, ck.config, weights, { full, seqs: seqs.length, seqLen: T });
    const steps: StepMetrics[] = [];
    const o = { ...DEFAULT_TRAIN, lr: 3e-3, epochs: 50, batchSize: seqs.length, warmupSteps: 8, seed: 1 };
    await noGpuErrors(gpu, () => trainer.sft(seqs, o, (m) => steps.push(m)));
    expect(steps.at(-1)!.loss).toBeLessThan(0.05);
    const trained = await full.download();
    trainer.destroy();
    full.destroy();
    destroyWeights(weights);
    const tensors: Record<string, TensorToWrite> = {};
    for (const [name, shape] of expectedTensors(ck.config))
      tensors[name] = { dtype: 'F32', shape, data: trained.get(name)! };
    writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors, { format: 'pt' }));

    const model = await loadModel(gpu, src, { slots: 8, maxLen: 256 });
    const judge = enginePairwiseJudge(model, 'tiny-judge', 24);
    for (const g of GROUPS) {
      const pairs = orderedPairs(g);
      // the raw text is the trained sentence; the verdict is parsed from it
      const texts = await model.generate(
        pairs.map((p) => tok.applyChatTemplate(pairwiseMessages(g.instruction, p.a, p.b))),
        { maxNewTokens: 24, temperature: 0 },
      );
      expect(texts.map((t) => t.text)).toEqual(pairs.map((p) => says(p.verdict)));
      const verdicts = await judge.compare(pairs.map((p) => ({ instruction: g.instruction, a: p.a, b: p.b })));
      expect(verdicts).toEqual(pairs.map((p) => p.verdict)); // each pair in both orders
      const scores = (await scoreGroup(judge, g.instruction, g.ranked)) as number[];
      expect(scores[0]).toBeGreaterThan(scores[1]);
      expect(scores[1]).toBeGreaterThan(scores[2]);
      expect(scores.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 6); // centred
    }
    model.destroy();
    // a judge whose context cannot hold the prompt and its verdict says so before generating
    const short = await loadModel(gpu, src, { slots: 2, maxLen: 24 });
    const g = GROUPS[0];
    await expect(
      enginePairwiseJudge(short, 'short').compare([{ instruction: g.instruction, a: g.ranked[0], b: g.ranked[1] }]),
    ).rejects.toThrow(/judge prompt takes \d+ tokens and judge model short holds 24 positions[\s\S]*longer context/);
    short.destroy();
  });
});
