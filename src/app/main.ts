// The page: talks to the engine worker through comlink. Model output is only ever set as
// textContent (a model can emit "<script>"), and all GPU work stays in the worker.

import * as Comlink from 'comlink';
import type { EngineApi, ModelSpec, RunProgress, RunRequest } from '../worker/protocol';
import type { Progress } from '../model/source';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const worker = new Worker(new URL('../worker/engine.worker.ts', import.meta.url), { type: 'module' });
const engine = Comlink.wrap<EngineApi>(worker);
let hasTokenizer = false;

const params = new URLSearchParams(location.search);
if (params.get('repo')) {
  $<HTMLSelectElement>('model-kind').value = 'hub';
  $<HTMLInputElement>('repo').value = params.get('repo')!;
}
if (params.get('hub')) $<HTMLInputElement>('hub-url').value = params.get('hub')!;

if (!('gpu' in navigator)) {
  $('no-webgpu').hidden = false;
  $('no-webgpu-reason').textContent = 'This browser does not expose navigator.gpu.';
}

function fail(where: HTMLElement, e: unknown): void {
  const err = e as Error;
  where.textContent = `${err.name && err.name !== 'Error' ? err.name + ': ' : ''}${err.message}`;
  where.classList.add('error');
  if (err.name === 'WebGPUNotAvailableError') {
    $('no-webgpu').hidden = false;
    $('no-webgpu-reason').textContent = err.message;
  }
}

$('model-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const kind = $<HTMLSelectElement>('model-kind').value;
  const spec: ModelSpec =
    kind === 'hub'
      ? { kind: 'hub', repo: $<HTMLInputElement>('repo').value.trim(), hubUrl: $<HTMLInputElement>('hub-url').value.trim() || undefined }
      : { kind: 'url', baseUrl: new URL('models/stories260K/', document.baseURI).href, label: 'stories260K (embedded)' };
  const status = $('model-status');
  const bar = $<HTMLProgressElement>('load-progress');
  status.classList.remove('error');
  status.textContent = 'Loading…';
  bar.hidden = false;
  $<HTMLButtonElement>('load').disabled = true;
  try {
    const info = await engine.load(
      spec,
      Comlink.proxy((p: Progress) => {
        if (p.total) bar.value = p.loaded / p.total;
        status.textContent = `Loading ${p.file}: ${(p.loaded / 2 ** 20).toFixed(1)} MiB`;
      }),
    );
    hasTokenizer = info.hasTokenizer;
    status.textContent = `${info.label}: ${info.modelType}, ${info.layers} layers, hidden ${info.hidden}, ${info.weightType} weights (${(info.weightBytes / 2 ** 20).toFixed(1)} MiB) on ${info.adapter}${info.software ? ' (software, slow)' : ''}`;
    $<HTMLButtonElement>('generate').disabled = false;
    $<HTMLButtonElement>('start').disabled = !info.hasTokenizer;
  } catch (e) {
    fail(status, e);
  } finally {
    bar.hidden = true;
    $<HTMLButtonElement>('load').disabled = false;
  }
});

$('gen-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const out = $('output');
  const status = $('gen-status');
  const prompt = $<HTMLTextAreaElement>('prompt').value;
  status.classList.remove('error');
  out.textContent = '';
  $<HTMLButtonElement>('generate').disabled = true;
  let count = 0;
  const t0 = performance.now();
  try {
    const [s] = await engine.generate(
      {
        messages: hasTokenizer && prompt ? [{ role: 'user', content: prompt }] : undefined,
        maxNewTokens: Number($<HTMLInputElement>('max-new').value),
        temperature: Number($<HTMLInputElement>('temperature').value),
        seed: Number($<HTMLInputElement>('seed').value),
      },
      Comlink.proxy(() => {
        count++;
        status.textContent = `Generating… ${count} tokens`;
      }),
    );
    out.textContent = hasTokenizer ? s.text : s.tokenIds.join(' ');
    out.dataset.tokenIds = s.tokenIds.join(',');
    status.textContent = `${s.tokenIds.length} tokens in ${((performance.now() - t0) / 1000).toFixed(2)} s (${s.finishReason})`;
  } catch (e) {
    fail(status, e);
  } finally {
    $<HTMLButtonElement>('generate').disabled = false;
  }
});

// ---- TPO run (records in IndexedDB; a reload resumes the same run id) ----
const runButtons = (running: boolean) => {
  $<HTMLButtonElement>('start').disabled = running;
  for (const id of ['pause', 'resume', 'cancel']) $<HTMLButtonElement>(id).disabled = !running;
};
$('train-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const status = $('run-status');
  status.classList.remove('error');
  runButtons(true);
  const val = (id: string) => $<HTMLInputElement>(id).value;
  try {
    let judge: RunRequest['judge'];
    if (val('http-judge').trim()) {
      const [baseUrl, model] = val('http-judge').trim().split('#');
      if (!model) throw new Error('Write the HTTP judge as <base URL>#<model>');
      judge = { kind: 'http', baseUrl, model, mode: 'pairwise', apiKey: val('http-key') || undefined };
    } else {
      try {
        judge = { kind: 'rules', rules: JSON.parse(val('rules')) };
      } catch (e) {
        throw new Error(`Judge rules are not valid JSON: ${(e as Error).message}`);
      }
    }
    const metrics = await engine.tpoRun(
      {
        runId: val('run-id'), instructionsJsonl: $<HTMLTextAreaElement>('instructions').value, template: val('template'), separator: val('separator'),
        judge, samples: Number(val('k')), temperature: 1, topP: 0.95, maxNewTokens: Number(val('run-max-new')), iterations: Number(val('iterations')),
        perIteration: Number(val('per-iteration')), rho: 0, beta: 0.1, lr: 1e-3, epochs: 1, batchSize: 2, loraR: 4, loraAlpha: 8, maxLength: 256, seed: 0,
      },
      Comlink.proxy((p: RunProgress) => {
        status.textContent = `iteration ${p.iteration} · ${p.stage} ${p.done}/${p.total} · ${p.tokensPerSecond.toFixed(1)} tok/s${p.etaSeconds !== null ? ` · ETA ${p.etaSeconds.toFixed(0)} s` : ''}`;
      }),
    );
    $('run-metrics').textContent = metrics.map((m) => `iteration ${m.iteration}: ${m.pairs} pairs, parse failures ${(100 * m.parse_failure_rate).toFixed(0)}%, mean score ${m.mean_score.toFixed(2)}`).join('\n');
    status.textContent = 'Done.';
  } catch (e) {
    fail(status, e);
  } finally {
    runButtons(false);
  }
});
$('pause').addEventListener('click', () => void engine.pause().then(() => ($('run-status').textContent += ' (paused)')));
$('resume').addEventListener('click', () => void engine.resume());
$('cancel').addEventListener('click', () => void engine.cancel());

$('export').addEventListener('click', async () => {
  const status = $('run-status');
  const list = $('exports');
  list.textContent = '';
  try {
    const files = await engine.exportRun($<HTMLInputElement>('run-id').value);
    for (const [name, bytes] of Object.entries(files)) {
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>]));
      a.download = name;
      a.textContent = `${name} (${bytes.byteLength} bytes)`;
      const li = document.createElement('li');
      li.append(a);
      list.append(li);
    }
  } catch (e) {
    fail(status, e);
  }
});
$<HTMLInputElement>('import').addEventListener('change', async (ev) => {
  const input = ev.target as HTMLInputElement;
  const status = $('run-status');
  try {
    const files: Record<string, Uint8Array> = {};
    for (const f of Array.from(input.files ?? [])) files[f.name] = new Uint8Array(await f.arrayBuffer());
    const done = await engine.importRun($<HTMLInputElement>('run-id').value, files);
    status.textContent = `Imported ${done.join(', ')}`;
  } catch (e) {
    fail(status, e);
  } finally {
    input.value = '';
  }
});
