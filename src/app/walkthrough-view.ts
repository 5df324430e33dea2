// The Walkthrough screen: one TPO iteration on one instruction, each stage explained in two
// sentences that match what is on screen, the thoughts visible (this is the teaching view).

import type { WalkthroughStage } from '../worker/protocol';
import { GENERIC } from '../tpo/prompts';
import { CHAIN_SUITE, demoJudgeRules, makeChainSuite } from '../demo/tasks';
import { $, el, fail, num, val } from './dom';
import { engine, proxy } from './engine';
import { localJudge } from './train-view';

function stageItem(title: string, explain: string): HTMLElement {
  const li = el('li', undefined, 'stage');
  li.append(el('h3', title), el('p', explain, 'explain'));
  $('walk-stages').append(li);
  return li;
}

const fmt = (x: number | null) => (x === null ? '—' : x.toFixed(2));

/** What each stage means, in two sentences that match what is on screen. */
const EXPLAIN = {
  prompt:
    'The instruction is wrapped in a prompt that asks the model to write its thoughts first and its response ' +
    'after a fixed separator. No thought is ever labelled: the model decides what to think.',
  samples:
    'The model answers several times at temperature 1, so the samples differ in their thoughts and answers. ' +
    'Each is split at the separator into a thought and a response; an output without the separator is a parse failure.',
  scores:
    'The judge sees only the instruction and each response — never the thought — and scores it. The scores are ' +
    'standardised and a length penalty ρ·z(length) is subtracted, so a longer response must be better to win.',
  noPair: 'TPO only learns from instructions where the samples differ in quality.',
  pair:
    'The best sample becomes "chosen" and the worst (or a parse failure) "rejected" — thoughts included. DPO will ' +
    'raise the probability of the whole chosen output, so the thoughts that led to good answers are reinforced.',
  dpo:
    'Each step moves the adapter so that the log-probability ratio log π/π_ref of the chosen output rises and that ' +
    'of the rejected output falls. The loss −log σ(β·(chosen ratio − rejected ratio)) shrinks as the gap grows.',
};

type Sampled = { raw: string; ok: boolean; thought: string; response: string };

function table(headers: string[], rows: string[][]): HTMLElement {
  const t = el('table');
  const head = el('tr');
  for (const h of headers) head.append(el('th', h));
  t.append(head);
  for (const r of rows) t.append(row(r));
  return t;
}

function row(cells: string[]): HTMLElement {
  const tr = el('tr');
  for (const c of cells) tr.append(el('td', c));
  return tr;
}

function showSamples(samples: Sampled[]): void {
  const ol = el('ol', undefined, 'samples');
  for (const x of samples) {
    const item = el('li');
    if (x.ok)
      item.append(el('div', `Thought: ${x.thought}`, 'thought'), el('div', `Response: ${x.response}`, 'response'));
    else item.append(el('div', `Parse failure: ${x.raw.slice(0, 200)}`, 'error'));
    ol.append(item);
  }
  stageItem(`2. ${samples.length} samples`, EXPLAIN.samples).append(ol);
}

function showScores(s: Extract<WalkthroughStage, { stage: 'scores' }>, samples: Sampled[]): void {
  const response = (i: number) => (samples[i]?.ok ? samples[i].response : '(parse failure)');
  const rows = s.scores.map((sc, i) => [String(i + 1), response(i), fmt(sc), fmt(s.lc[i])]);
  const headers = ['sample', 'response', 'judge score', 'length-controlled'];
  stageItem('3. Judge scores and length control', EXPLAIN.scores).append(table(headers, rows));
}

function showPair(s: Extract<WalkthroughStage, { stage: 'pair' }>, samples: Sampled[]): void {
  if ('skipped' in s && s.redraw) {
    // The draw's samples and scores give way to a fresh draw; a note under the prompt keeps what happened.
    const stages = $('walk-stages');
    while (stages.children.length > 1) stages.lastElementChild!.remove();
    stages.firstElementChild!.append(
      el(
        'p',
        `No pair from ${samples.length} samples: ${s.skipped}. ${EXPLAIN.noPair} Drawing ${samples.length} more…`,
        'redraw',
      ),
    );
    return;
  }
  if ('skipped' in s) {
    stageItem('4. No pair', `This instruction is skipped: ${s.skipped}. ${EXPLAIN.noPair}`);
    return;
  }
  stageItem('4. The preference pair', EXPLAIN.pair).append(
    el('div', `Chosen (sample ${s.chosen + 1}): ${samples[s.chosen].raw}`, 'chosen'),
    el('div', `Rejected (sample ${s.rejected + 1}): ${samples[s.rejected].raw}`, 'rejected'),
  );
}

export function initWalkthroughView(): void {
  // A four-step chain: the untrained demo model sometimes writes the steps out (and is right) and
  // more often hedges and guesses, so a draw of K samples usually holds both — a pair to learn from.
  const heldOut = makeChainSuite({ ...CHAIN_SUITE.chains, train: 0 }).heldOut;
  const task = heldOut.find((t) => t.chain?.steps.length === 4) ?? heldOut[0];
  $<HTMLInputElement>('walk-instruction').value = task.instruction;
  $<HTMLInputElement>('walk-answer').value = task.answer;
  $<HTMLInputElement>('walk-seed').value = String(Math.floor(Math.random() * 100000));
  let samples: Sampled[] = [];
  let dpo: HTMLElement | null = null;

  const onStage = (s: WalkthroughStage) => {
    switch (s.stage) {
      case 'prompt':
        stageItem('1. The thought prompt', EXPLAIN.prompt).append(el('pre', s.prompt));
        break;
      case 'samples':
        samples = s.samples;
        showSamples(samples);
        break;
      case 'scores':
        showScores(s, samples);
        break;
      case 'pair':
        showPair(s, samples);
        break;
      case 'dpo':
        if (!dpo) {
          dpo = table(['step', 'loss', 'chosen log-ratio', 'rejected log-ratio'], []);
          stageItem('5. DPO steps on a LoRA adapter', EXPLAIN.dpo).append(dpo);
        }
        dpo.append(row([String(s.step), s.loss.toFixed(4), s.chosenRatio.toFixed(4), s.rejectedRatio.toFixed(4)]));
        break;
    }
  };

  /** The Train screen's judge model (a reward model or a pair-wise LLM judge). */
  const trainJudgeModel = () => {
    const j = localJudge();
    if (!j || (j.kind !== 'rm' && j.kind !== 'pairwise'))
      throw new Error('Choose a judge model on the Train screen first (a reward model or a pair-wise LLM judge).');
    return j;
  };
  $('walk-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const status = $('walk-status');
    status.classList.remove('error');
    status.textContent = 'Running…';
    $('walk-stages').replaceChildren();
    dpo = null;
    $<HTMLButtonElement>('walk-run').disabled = true;
    try {
      await engine.walkthrough(
        {
          instruction: val('walk-instruction'),
          meta: { answer: val('walk-answer') },
          rules: demoJudgeRules(),
          judge: val('walk-judge') === 'train' ? trainJudgeModel() : undefined,
          template: GENERIC.template,
          separator: GENERIC.separator!,
          thoughtMarker: GENERIC.thoughtMarker,
          samples: num('walk-k'),
          temperature: 1,
          maxNewTokens: 160,
          rho: 0.1,
          beta: 0.1,
          lr: 2e-3,
          steps: num('walk-steps'),
          seed: num('walk-seed'),
          draws: 8,
        },
        proxy(onStage),
      );
      status.textContent = 'Done.';
    } catch (e) {
      fail(status, e);
    } finally {
      $<HTMLButtonElement>('walk-run').disabled = false;
    }
  });
}
