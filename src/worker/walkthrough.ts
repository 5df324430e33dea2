// One TPO iteration on one instruction, stage by stage (the walkthrough view): the thought
// prompt, K samples with their thoughts, judge scores on the responses only, length-controlled
// scores, the chosen/rejected pair, then a few DPO steps on a fresh LoRA adapter with the
// policy/reference log-prob ratios of both sides. Nothing is stored; the model is left as it was.

import type { LoadedModel } from '../engine/model';
import { readF32 } from '../gpu/readback';
import { tokenizePairs } from '../train/data';
import { DEFAULT_LORA, LoraLayout, LoraState } from '../train/lora';
import { DEFAULT_TRAIN, Trainer } from '../train/trainer';
import { type Judge, scoreGroup } from '../tpo/judges';
import { promptIds } from '../tpo/instructions';
import { customPrompt, NATIVE, parseOutput, renderPrompt, type ThoughtPrompt } from '../tpo/prompts';
import { lengthControlled, type PairChoice, selectPair } from '../tpo/scores';
import type { WalkthroughRequest, WalkthroughStage } from './protocol';

/** `judge`: the rules of the request, or a judge model (point-wise, or pair-wise through Bradley–Terry). */
export async function walkthrough(
  m: LoadedModel,
  req: WalkthroughRequest,
  judge: Judge,
  onStage: (s: WalkthroughStage) => void,
): Promise<void> {
  const tok = m.tokenizer;
  if (!tok) throw new Error('this model has no tokenizer: the walkthrough needs one');
  const prompt = req.nativeThinking ? NATIVE : customPrompt(req.template, req.separator, req.thoughtMarker);
  onStage({ stage: 'prompt', prompt: renderPrompt(prompt, req.instruction) });

  const ids = promptIds(m, prompt, req.instruction);
  let drawn: Drawn | null = null;
  for (let draw = 0; !drawn; draw++) {
    const seed = req.seed + draw * req.samples;
    const d = await drawAndJudge(m, req, { prompt, ids, seed, judge }, onStage);
    if (!('skipped' in d.choice)) drawn = { samples: d.samples, choice: d.choice };
    else {
      const why =
        d.choice.skipped === 'all-tied'
          ? 'every response scored the same, so there is no preference to learn'
          : 'too few parsable samples to form a pair';
      const redraw = draw + 1 < req.draws;
      onStage({ stage: 'pair', skipped: why, redraw });
      if (!redraw) return;
    }
  }
  const { samples, choice } = drawn;
  onStage({ stage: 'pair', chosen: choice.chosen, rejected: choice.rejected });

  const row = {
    prompt: [{ role: 'user', content: renderPrompt(prompt, req.instruction) }],
    chosen: [{ role: 'assistant', content: samples[choice.chosen].raw }],
    rejected: [{ role: 'assistant', content: samples[choice.rejected].raw }],
  };
  const eos = tok.eosTokenIds[0] ?? m.config.eosTokenIds[0];
  const pairs = tokenizePairs([row], tok, eos, 512);
  const T = Math.max(pairs[0].chosen.ids.length, pairs[0].rejected.ids.length);
  const layout = new LoraLayout(m.config, { ...DEFAULT_LORA, r: 8, alpha: 16 });
  const init = layout.init(req.seed);
  const state = new LoraState(m.gpu.device, layout, init);
  const trainer = new Trainer(m.gpu, m.config, m.weights, { lora: { layout, state }, seqs: 2, seqLen: T });
  try {
    const o = {
      ...DEFAULT_TRAIN,
      lr: req.lr,
      beta: req.beta,
      epochs: req.steps,
      batchSize: 1,
      schedule: 'constant' as const,
    };
    const ref = await trainer.referenceLogps(pairs, o, undefined, init);
    await trainer.dpo(pairs, ref, o, (s) =>
      onStage({
        stage: 'dpo',
        step: s.step,
        loss: s.loss,
        chosenRatio: (s['rewards/chosen'] ?? 0) / req.beta,
        rejectedRatio: (s['rewards/rejected'] ?? 0) / req.beta,
        accuracy: s['rewards/accuracies'] ?? 0,
      }),
    );
    await readF32(m.gpu.device, state.params, 4); // wait for the last step before freeing
  } finally {
    trainer.destroy();
    state.destroy();
  }
}

type Sampled = { raw: string; ok: boolean; thought: string; response: string };
type Drawn = { samples: Sampled[]; choice: { chosen: number; rejected: number } };

/** One draw of K samples, judged (responses only) and length-controlled, each stage reported. */
async function drawAndJudge(
  m: LoadedModel,
  req: WalkthroughRequest,
  draw: { prompt: ThoughtPrompt; ids: number[]; seed: number; judge: Judge },
  onStage: (s: WalkthroughStage) => void,
): Promise<{ samples: Sampled[]; choice: PairChoice }> {
  const { prompt, ids, seed } = draw;
  const gens = await m.generate(
    Array.from({ length: req.samples }, () => ids),
    {
      maxNewTokens: req.maxNewTokens,
      temperature: req.temperature,
      topP: 1,
      seeds: Array.from({ length: req.samples }, (_, k) => seed + k),
    },
  );
  const samples = gens.map((g) => {
    const p = parseOutput(prompt, g.text ?? '');
    return p.ok
      ? { raw: g.text ?? '', ok: true, thought: p.thought, response: p.response }
      : { raw: g.text ?? '', ok: false, thought: '', response: '' };
  });
  onStage({ stage: 'samples', samples, seed });
  const ok = samples.map((s, i) => (s.ok ? i : -1)).filter((i) => i >= 0);
  // the responses only, never the thoughts; a judge may give no score (null)
  const got = await scoreGroup(
    draw.judge,
    req.instruction,
    ok.map((i) => samples[i].response),
    req.meta,
  );
  const scores = samples.map((_, i) => (ok.includes(i) ? got[ok.indexOf(i)] : null));
  const scored = scores.map((v, i) => (v === null ? -1 : i)).filter((i) => i >= 0);
  const lcScored = scored.length
    ? lengthControlled(
        scored.map((i) => scores[i]!),
        scored.map((i) => samples[i].response.length),
        req.rho,
      )
    : [];
  const lc = samples.map((_, i) => (scored.includes(i) ? lcScored[scored.indexOf(i)] : null));
  onStage({ stage: 'scores', scores, lc });
  const choice = selectPair(
    samples.map((s, i) => ({ parsed: s.ok, score: scores[i] ?? undefined, length: s.response.length })),
    req.rho,
  );
  return { samples, choice };
}
