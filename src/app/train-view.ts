// The Train screen: instruction set (built-in demo tasks, paste, JSONL upload), thought prompt,
// judge and hyper-parameters with working defaults; one progress bar per stage; pause / resume /
// cancel; live charts. Runs are recorded in IndexedDB by the worker, so a reload resumes the run.

import type { JudgeModelSpec, RunEvent, RunProgress, RunRequest } from '../worker/protocol';
import type { WeightDtypeChoice } from '../engine/weights';
import type { IterationMetrics } from '../tpo/store';
import type { TpoOptions } from '../tpo/loop';
import { GENERIC } from '../tpo/prompts';
import { CHAIN_SUITE, demoJudgeRules, makeChainSuite, promptRows } from '../demo/tasks';
import { $, fail, fmtSecs, num, val } from './dom';
import { engine, proxy, state } from './engine';
import { RunCharts } from './charts';
import { refreshAdapters, weightEstimate, whenLoaded } from './model-view';
import { PAPER_SAMPLING } from '../tpo/sampling';

const ACTIVE = 'tpo-active-run';
let charts: RunCharts | null = null;
const getCharts = () => (charts ??= new RunCharts($('chart-steps'), $('chart-scores'), $('chart-lengths')));

/** The form's default run as the experiment runs one: 3 iterations × (64 fresh + 64 validation), 8 held out. */
const DEMO_RUN_INSTRUCTIONS = 3 * (64 + 64) + 8;

/** The chain suite's pool instructions (docs/experiment.md): never in any split the demo model trained on. */
function demoInstructions(n = DEMO_RUN_INSTRUCTIONS): string {
  const s = makeChainSuite({ ...CHAIN_SUITE.chains, train: 0 }); // the pool is drawn before the training split
  return promptRows(s.pool.slice(0, n))
    .map((r) => JSON.stringify(r))
    .join('\n');
}

const STAGES = ['sampling', 'judging', 'training', 'evaluating'] as const;
function showProgress(p: RunProgress): void {
  const at = STAGES.indexOf(p.stage);
  STAGES.forEach((s, i) => {
    const bar = $<HTMLProgressElement>(`p-${s}`);
    if (i < at) {
      bar.value = 1;
      $(`s-${s}`).textContent = 'done';
    } // a resumed run may skip a stage's last updates
    if (i > at) {
      bar.value = 0;
      $(`s-${s}`).textContent = '';
    }
  });
  $<HTMLProgressElement>(`p-${p.stage}`).value = p.total ? p.done / p.total : 0;
  const unit = p.stage === 'training' ? 'steps' : p.stage === 'evaluating' ? 'held-out instructions' : 'instructions';
  const rate =
    p.judgeTokensPerSecond !== undefined
      ? `${p.judgeTokensPerSecond.toFixed(1)} judge tok/s`
      : `${p.tokensPerSecond.toFixed(1)} tok/s`;
  const eta = p.etaSeconds !== null ? ` · ETA ${fmtSecs(p.etaSeconds)}` : '';
  const shown = p.stage === 'sampling' || p.judgeTokensPerSecond !== undefined;
  $(`s-${p.stage}`).textContent = `${p.done}/${p.total} ${unit}${shown ? ` · ${rate}` : ''}${eta}`;
  const etaS = p.etaSeconds !== null ? ` · ETA ${p.etaSeconds.toFixed(0)} s` : '';
  const held = paused ? PAUSED : '';
  $('run-status').textContent = `iteration ${p.iteration} · ${p.stage} ${p.done}/${p.total} · ${rate}${etaS}${held}`;
}

/** Whether Pause was pressed (and not Resume since): the status says so through later progress. */
let paused = false;
const PAUSED = ' (paused)';

function summary(rows: IterationMetrics[]): string {
  const win = (m: IterationMetrics) =>
    typeof m.eval?.win_rate === 'number' ? `, held-out win rate ${(100 * m.eval.win_rate).toFixed(0)}% vs base` : '';
  const kept = (m: IterationMetrics) =>
    m.selection ? `, kept epoch ${m.selection.chosen_epoch} of ${m.selection.candidates.length - 1}` : '';
  return rows
    .map(
      (m) =>
        `iteration ${m.iteration}: ${m.pairs} pairs, parse failures ${(100 * m.parse_failure_rate).toFixed(0)}%, ` +
        `mean score ${m.mean_score.toFixed(2)}, thought ${m.mean_thought_chars.toFixed(0)} chars${kept(m)}${win(m)}`,
    )
    .join('\n');
}

export async function showRun(runId: string): Promise<void> {
  const rows = await engine.runMetrics(runId);
  getCharts().reset(rows);
  $('run-metrics').textContent = summary(rows);
}

/** The judge model spec from the form's fields: a hub repo (with the Model screen's Hub URL), a URL, or the policy. */
function judgeModelSpec(kind: 'rm' | 'pairwise'): JudgeModelSpec | 'policy' {
  const text = val('judge-model').trim();
  const weightDtype = val('judge-dtype') as WeightDtypeChoice;
  if (!text) throw new Error('Write the judge model: a hub repo id, a model folder URL, or "policy".');
  if (text === 'policy') {
    if (kind === 'rm') throw new Error('The policy is not a reward model: give a *ForSequenceClassification repo.');
    return 'policy';
  }
  if (/^(https?:\/\/|\.{0,2}\/)/.test(text))
    return {
      kind: 'url',
      baseUrl: new URL(text.endsWith('/') ? text : `${text}/`, document.baseURI).href,
      weightDtype,
    };
  return { kind: 'hub', repo: text, hubUrl: val('hub-url').trim() || undefined, weightDtype };
}

/** The local judge chosen in the form, if any. */
export function localJudge(): RunRequest['judge'] | null {
  const kind = val('local-judge');
  if (kind === 'rm') return { kind: 'rm', model: judgeModelSpec('rm') as JudgeModelSpec };
  if (kind === 'pairwise') return { kind: 'pairwise', model: judgeModelSpec('pairwise') };
  return null;
}

/** GPU memory for the policy and the judge model together, before the judge is loaded. */
function judgeMemory(): void {
  const out = $('judge-memory');
  const kind = val('local-judge');
  const text = val('judge-model').trim();
  if (!kind || !text) return void (out.textContent = '');
  const policy = state.weightBytes;
  const judge = text === 'policy' ? 0 : weightEstimate(`hub:${text}`, val('judge-dtype') as WeightDtypeChoice);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const p = policy ? `policy weights ${mib(policy)}` : 'policy not loaded yet';
  const j =
    text === 'policy'
      ? 'the policy judges itself (no second model)'
      : judge === null
        ? 'judge weights known once downloaded'
        : `judge weights ≈ ${mib(judge)}`;
  const total = policy && judge !== null ? `; together ≈ ${mib(policy + judge)} plus their caches` : '';
  out.textContent = `${p}, ${j}${total}. A judge that does not fit stops the run with what to change.`;
}

/** The judge of the form: a local judge model if chosen, else the HTTP endpoint if given, else the rules. */
function formJudge(): RunRequest['judge'] {
  const local = localJudge();
  if (local) return local;
  if (val('http-judge').trim()) {
    const [baseUrl, model] = val('http-judge').trim().split('#');
    if (!model) throw new Error('Write the HTTP judge as <base URL>#<model>');
    return { kind: 'http', baseUrl, model, mode: 'pairwise', apiKey: val('http-key') || undefined };
  }
  try {
    return { kind: 'rules', rules: JSON.parse(val('rules')) };
  } catch (e) {
    throw new Error(`Judge rules are not valid JSON: ${(e as Error).message}`);
  }
}

/** Shows a stored run's settings in the form (they are the ones a resume uses). */
function fillForm(c: Record<string, unknown> | null): void {
  if (!c) return;
  const o = c.options as TpoOptions | undefined;
  const set = (id: string, v: unknown) => {
    if (v !== undefined && v !== null) $<HTMLInputElement>(id).value = String(v);
  };
  set('instructions', c.instructionsJsonl);
  set('iterations', c.iterations);
  set('eval-count', c.evalCount);
  if (!o) return;
  set('template', o.prompt.template);
  set('separator', o.prompt.separator ?? '');
  set('marker', o.prompt.thoughtMarker ?? '');
  $<HTMLInputElement>('native').checked = o.prompt.nativeThinking === true;
  set('k', o.samples);
  set('run-temp', o.temperature);
  set('run-top-p', o.topP);
  set('rho', o.rho);
  set('beta', o.train.beta);
  set('lr', o.train.lr);
  set('rank', o.lora.r);
  set('per-iteration', o.perIteration);
  set('run-max-new', o.maxNewTokens);
  set('epochs', o.train.epochs);
  set('validation', o.validation ?? 0);
  const judge = c.judge as RunRequest['judge'] | undefined;
  $<HTMLSelectElement>('local-judge').value = ''; // a rules or HTTP run: no judge model
  if (judge?.kind === 'rm' || judge?.kind === 'pairwise') {
    set('local-judge', judge.kind);
    const m = judge.model;
    set('judge-model', m === 'policy' ? 'policy' : m.kind === 'hub' ? m.repo : m.baseUrl);
    if (m !== 'policy') set('judge-dtype', m.weightDtype ?? 'auto');
  }
}

/** The Train form as a run request. */
function formRequest(runId: string, judge: RunRequest['judge']): RunRequest {
  return {
    runId,
    instructionsJsonl: $<HTMLTextAreaElement>('instructions').value,
    template: val('template'),
    separator: val('separator'),
    thoughtMarker: val('marker') || undefined,
    nativeThinking: $<HTMLInputElement>('native').checked,
    judge,
    samples: num('k'),
    temperature: num('run-temp'),
    topP: num('run-top-p'),
    maxNewTokens: num('run-max-new'),
    iterations: num('iterations'),
    perIteration: num('per-iteration'),
    rho: num('rho'),
    beta: num('beta'),
    lr: num('lr'),
    epochs: num('epochs'),
    batchSize: 2,
    loraR: num('rank'),
    loraAlpha: 2 * num('rank'),
    maxLength: 512,
    seed: 0,
    evalCount: num('eval-count'),
    validation: num('validation'),
    sampleBatch: num('run-batch'),
  };
}

export function initTrainView(): void {
  $<HTMLTextAreaElement>('instructions').value = demoInstructions();
  $<HTMLTextAreaElement>('template').value = GENERIC.template;
  $<HTMLInputElement>('separator').value = GENERIC.separator!;
  $<HTMLInputElement>('marker').value = GENERIC.thoughtMarker!;
  $<HTMLInputElement>('run-temp').value = String(PAPER_SAMPLING.temperature);
  $<HTMLInputElement>('run-top-p').value = String(PAPER_SAMPLING.topP);
  $<HTMLTextAreaElement>('rules').value = JSON.stringify(demoJudgeRules());
  $('samples').addEventListener('click', () => ($<HTMLTextAreaElement>('instructions').value = demoInstructions()));
  for (const id of ['local-judge', 'judge-model', 'judge-dtype']) $(id).addEventListener('input', judgeMemory);
  whenLoaded(judgeMemory);
  $<HTMLInputElement>('jsonl').addEventListener('change', async (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (f) $<HTMLTextAreaElement>('instructions').value = await f.text();
  });

  const interrupted = localStorage.getItem(ACTIVE);
  if (interrupted) {
    $<HTMLInputElement>('run-id').value = interrupted;
    $('run-status').textContent =
      `Run "${interrupted}" was interrupted. ` +
      'Load the model, then press Start / resume to continue from its last saved step.';
    void showRun(interrupted).catch(() => {});
    void engine.runConfig(interrupted).then(fillForm, () => {});
  }

  const runButtons = (running: boolean) => {
    $<HTMLButtonElement>('start').disabled = running;
    for (const id of ['pause', 'resume', 'cancel']) $<HTMLButtonElement>(id).disabled = !running;
  };
  $('train-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const status = $('run-status');
    status.classList.remove('error');
    runButtons(true);
    const runId = val('run-id').trim();
    try {
      const judge = formJudge();
      await showRun(runId);
      localStorage.setItem(ACTIVE, runId);
      const metrics = await engine.tpoRun(
        formRequest(runId, judge),
        proxy(showProgress),
        proxy((e: RunEvent) => (e.type === 'step' ? getCharts().addStep(e.step) : getCharts().addIteration(e.metrics))),
      );
      localStorage.removeItem(ACTIVE);
      $('run-metrics').textContent = summary(metrics);
      status.textContent = 'Done.';
      await refreshAdapters();
    } catch (e) {
      fail(status, e);
      if (/cancelled/.test((e as Error).message)) localStorage.removeItem(ACTIVE);
    } finally {
      paused = false;
      runButtons(false);
    }
  });
  $('pause').addEventListener(
    'click',
    () =>
      void engine.pause().then(() => {
        if (paused) return;
        paused = true;
        $('run-status').textContent += PAUSED;
      }),
  );
  $('resume').addEventListener('click', () => {
    paused = false;
    void engine.resume();
  });
  $('cancel').addEventListener('click', () => void engine.cancel());
}

export const enableTraining = (on: boolean) => {
  $<HTMLButtonElement>('start').disabled = !on;
};
