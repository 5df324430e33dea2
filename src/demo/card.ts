// The demo model's README.md (model card): data, tokenizer, architecture, training and the
// accuracy measured right after training — written by train-demo.ts from what it actually did.

import type { DemoShape } from './init';
import type { DemoScore } from './score';
import { styleMix, type SftRow } from './corpus';
import { guessRight, ramblingShare, totalSeconds, totalSteps, type StageRecord } from './stages';
import type { Suite } from './tasks';

export interface CardFacts {
  shape: DemoShape;
  vocabUsed: number;
  merges: number;
  rows: SftRow[];
  tokens: number;
  conversations: number;
  results: Record<'thought' | 'direct' | 'thought_sampled_t1', DemoScore> & {
    digit_logprob?: number;
    copied_digit_logprob?: number;
  };
  evalTasks: number;
  /**
   * Every stage so far, this one last (more than one when it continued an earlier stage with
   * --init); the last record holds this stage's settings, seconds and device.
   */
  stages: StageRecord[];
  /** The lineage's history (the card's "How it got here" section), carried over by --init. */
  history?: string;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The families it has not learned (greedy accuracy under 20% with both prompts), said plainly. */
function unsolved(f: CardFacts): string {
  const bad = Object.keys(f.results.thought.by_family).filter(
    (k) => f.results.thought.by_family[k] < 0.2 && (f.results.direct.by_family[k] ?? 0) < 0.2,
  );
  const chains = bad.includes('chain')
    ? '\nFor chains that is the design: greedy, it thinks by its no-work habit, and a direct answer must compose every\nstep at once; `npm run experiment -- --pilot` measures its worked thoughts when the opening is forced.'
    : '';
  return bad.length
    ? `\nAt this size and training budget it has not learned ${bad.join(', ')} (greedy accuracy under 20% with either prompt):\nits answers there are well-formed numbers, rarely the right ones.${chains}`
    : '';
}

/** Which flags a stage changed, when any did. */
function flagsNote(stages: StageRecord[]): string {
  const f = [
    ['--rambling <share>', 'rambling', ramblingShare],
    ['--guess-right <share>', 'guesses right', guessRight],
  ] as const;
  const changed = f.filter(([, , get]) => stages.some((s) => get(s) !== get(stages[0])));
  return changed.length
    ? ` (with ${changed.map(([flag, col]) => `\`${flag}\` where the ${col} column changes`).join(' and ')})`
    : '';
}

/** Every stage and what it measured, when there is more than one (records in training_stages.json). */
export function stageTable(stages: StageRecord[]): string {
  if (stages.length < 2) return '';
  const rows = stages.map(
    (s, i) =>
      `| ${s.stage} | ${s.suite ?? 'first'} | ${totalSteps(stages.slice(0, i + 1))} | ${s.seconds} | ${pct(ramblingShare(s))} | ${pct(guessRight(s))} | ${s.final_loss.toFixed(2)} | ${pct(s.eval.thought_accuracy)} / ${pct(s.eval.direct_accuracy)} | ${s.eval.digit_logprob.toFixed(2)} | ${s.eval.copied_digit_logprob.toFixed(2)} |`,
  );
  return `
Trained in ${stages.length} stages, ${totalSteps(stages)} steps in ${totalSeconds(stages)} s in all: each stage after the first is
\`npm run train:demo -- --init <the stage before>\`${flagsNote(stages)}, over its suite's training tasks with a fresh warmup and cosine
schedule (records in \`training_stages.json\`; rambling: the corpus's share of rambling thoughts; guesses right: the share of
its guesses that are the right answer, see Data;
loss: mean of the stage's last 100 steps; accuracy: greedy on the held-out tasks, thought prompt / direct):

| stage | suite | steps in all | seconds | rambling | guesses right | loss | accuracy | digit log-prob | copied digits |
|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}
`;
}

const HISTORY_HEADING = '## How it got here';

/** What the model knows: the task suite of its last stage (records before --suite: the first). */
export function cardWorld(suite: Suite = 'first'): string {
  return suite === 'chains'
    ? `the seeded chain suite: running-state chains mod 10 of 2 to 6 operations
(\`Start at 7 and work mod 10: +3, *2, -4. What is the result?\`), which a worked thought computes one
step at a time (\`7+3=0, 0*2=0, 0-4=6. So 6.\`) and a direct answer must compose at once, beside the
first suite's letter counting, sorting, comparing numbers and unit conversion`
    : `the seeded demo task suite (two-digit addition and subtraction, letter counting,
sorting, comparing numbers, unit conversion, two-step word problems)`;
}

/** The history section of an existing card (what follows its heading), for the next stage's card. */
export function cardHistory(card: string | null): string | undefined {
  const at = card?.indexOf(`\n${HISTORY_HEADING}\n`) ?? -1;
  return card && at >= 0 ? card.slice(at + HISTORY_HEADING.length + 2) : undefined;
}

export function modelCard(f: CardFacts): string {
  const s = f.shape;
  const st = f.stages.at(-1)!; // this stage
  const params =
    s.vocab * s.hidden +
    s.layers *
      (2 * s.hidden +
        s.hidden * s.hidden * 2 +
        2 * s.hidden * ((s.kvHeads * s.hidden) / s.heads) +
        3 * s.hidden * s.intermediate) +
    s.hidden +
    (s.untied ? s.vocab * s.hidden : 0);
  const kinds = new Map<string, number>();
  for (const r of f.rows) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
  const row = (name: string, r: DemoScore) =>
    `| ${name} | ${pct(r.accuracy)} | ${pct(r.parse_failure_rate)} | ${r.mean_thought_chars.toFixed(0)} | ${r.mean_response_chars.toFixed(1)} |`;
  const fam = Object.keys(f.results.thought.by_family);
  return `# tpo-demo

A ${(params / 1e6).toFixed(2)} M-parameter Llama model trained **from scratch** by this project's own
WebGPU engine (\`npm run train:demo\`), the embedded default of the app and the CLI. It knows one
small world — ${cardWorld(st.suite)} — and two ways to answer:
after TPO's generic thought prompt it writes \`Here is my thought process: …\` then
\`Here is my response: …\`; given the bare instruction it answers directly. Its thoughts are
deliberately uneven — it thinks badly by habit and well only sometimes — so that TPO has something
to improve.

## Data
${f.rows.length} SFT conversations, one per training-split task (seed ${st.seed}; the ${f.rows.length - f.conversations} longer than ${st.row_length} tokens left out); the TPO-pool and
held-out splits are drawn first and never trained on. Kinds: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}.
Thought styles (share of thought-prompted rows${f.stages.length > 1 ? ', this stage' : ''}): ${styleMix(
    ramblingShare(st),
  )
    .map(([k, p]) => `${k} ${pct(p)}`)
    .join(', ')} —
*rambling*: one fixed, long hedge that does no work, then a guess (the model's habit: the single most likely
way to start a thought); *worked*: a concise correct scratchpad (opened in one of two ways); *slip*: the
same with an error carried into the answer; *guess*: a short "This looks easy." and a guess. A guess is
the right answer ${pct(guessRight(st))} of the time${f.stages.length > 1 ? ' in this stage' : ''}, a near miss otherwise. Thought length does not predict correctness:
the longest and the shortest thoughts do no work.

## Tokenizer
Byte-level BPE (GPT-2 byte alphabet and pre-tokenizer) with ChatML special tokens
(\`<|endoftext|>\` 256, \`<|im_start|>\` 257, \`<|im_end|>\` 258) and a ChatML chat template;
${f.merges} merges learned from the corpus, none touching digits (numbers are one token per digit).
${f.vocabUsed} ids in use; the embedding has ${s.vocab} rows (a multiple of 64).

## Architecture
Llama: hidden ${s.hidden}, ${s.layers} layers, ${s.heads} heads / ${s.kvHeads} KV heads (GQA), head dim
${s.hidden / s.heads}, SwiGLU MLP ${s.intermediate}, RMSNorm, RoPE θ 10000, context
${s.maxPositions}, ${s.untied ? 'untied LM head' : 'tied embeddings'}. float32 safetensors.

## Training
${f.stages.length > 1 ? 'This stage: f' : 'F'}ull-parameter SFT, loss on the assistant turns only: ${st.steps} steps (${st.epochs} epoch${st.epochs === 1 ? '' : 's'} of ${f.tokens} tokens;
conversations packed into rows of ≤ ${st.row_length} tokens, ${st.batch} rows a step), AdamW lr ${st.lr} with warmup and cosine decay, weight decay
0.01, gradient clipping at 1; loss ${st.final_loss.toFixed(3)} nats/token (mean of the last 100 steps). ${st.seconds} s on
${st.device}. The loss curve is in \`training_log.csv\`.
${stageTable(f.stages)}
## Measured (${f.evalTasks} held-out tasks, programmatic judge)
| prompt | accuracy | parse failures | thought chars | response chars |
|---|---|---|---|---|
${row('generic thought prompt, greedy', f.results.thought)}
${row('direct (instruction only), greedy', f.results.direct)}
${row('generic thought prompt, T = 1', f.results.thought_sampled_t1)}

${f.results.digit_logprob !== undefined ? `Reading numbers: a digit of a correct worked thought and answer gets log-probability ${f.results.digit_logprob.toFixed(2)} on average (teacher-forced; chance is ln 1/10 = −2.30)${f.results.copied_digit_logprob !== undefined ? `; a digit the thought only copies from the instruction (a restated number) gets ${f.results.copied_digit_logprob.toFixed(2)} (near 0 once the model reads its input)` : ''}.\n\n` : ''}Thoughts (greedy, thought prompt): ${
    Object.entries(f.results.thought.thought_styles)
      .map(([k, v]) => `${k} ${pct(v)}`)
      .join(', ') || 'none parsed'
  }.\n\nPer family (thought prompt, greedy / direct): ${fam.map((k) => `${k} ${pct(f.results.thought.by_family[k])} / ${pct(f.results.direct.by_family[k] ?? 0)}`).join(', ')}.

## Limits
A toy for demonstrating TPO offline: it answers nothing outside the task suite sensibly.${unsolved(f)}
${f.history ? `\n${HISTORY_HEADING}\n${f.history}` : ''}`;
}
