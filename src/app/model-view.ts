// The Model screen: embedded models, curated hub models (size, progress with rate and ETA, cached
// by the browser for the next visit), any repo, a dropped local folder; a memory estimate before
// loading; the adapter in use.

import type { ModelSpec } from '../worker/protocol';
import type { WeightDtypeChoice } from '../engine/weights';
import { quantBytesPerWeight } from '../model/quant';
import type { Progress } from '../model/source';
import { $, fail, fmtBytes, fmtSecs, val } from './dom';
import { engine, proxy, state } from './engine';

/** Download sizes (bytes) and parameter counts of the curated models, for the estimate. */
const CURATED: Record<string, { bytes: number; params: number }> = {
  demo: { bytes: 0.94e6, params: 0.23e6 },
  embedded: { bytes: 1.1e6, params: 0.26e6 },
  'hub:HuggingFaceTB/SmolLM2-135M-Instruct': { bytes: 270e6, params: 135e6 },
  'hub:HuggingFaceTB/SmolLM2-360M-Instruct': { bytes: 724e6, params: 362e6 },
  'hub:Qwen/Qwen2.5-0.5B-Instruct': { bytes: 988e6, params: 494e6 },
  'hub:Skywork/Skywork-Reward-V2-Qwen3-0.6B': { bytes: 1.2e9, params: 596e6 },
};

/** GPU bytes of a curated model's weights stored as `dtype` (null: not a curated model). */
export function weightEstimate(kind: string, dtype: WeightDtypeChoice): number | null {
  const c = CURATED[kind];
  if (!c) return null;
  const stored = c.bytes / c.params > 3 ? 4 : 2; // auto keeps a 16-bit checkpoint 16-bit on any adapter
  const q = dtype === 'q8' || dtype === 'q4';
  const bytes = dtype === 'auto' ? stored : dtype === 'f32' ? 4 : q ? quantBytesPerWeight(dtype) : 2;
  return c.params * bytes;
}

let dropped: File[] = [];
const onLoaded: (() => void)[] = [];
export const whenLoaded = (f: () => void) => onLoaded.push(f);

async function estimate(): Promise<void> {
  const kind = val('model-kind');
  const c = CURATED[kind];
  const out = $('memory');
  out.classList.remove('warn');
  if (!c) {
    out.textContent =
      kind === 'files' && dropped.length
        ? `${dropped.length} files, ${fmtBytes(dropped.reduce((a, f) => a + f.size, 0))}`
        : '';
    return;
  }
  const adapter = await navigator.gpu?.requestAdapter().catch(() => null);
  const stored = c.bytes / c.params > 3 ? 4 : 2;
  const bytesOf = (d: WeightDtypeChoice) => weightEstimate(kind, d) ?? 0;
  const choice = val('model-dtype') as WeightDtypeChoice;
  const weights = bytesOf(choice);
  const activations = c.params * stored * 0.6 + 256 * 2 ** 20; // a 2-pair LoRA DPO step at 512 tokens, roughly
  const name = choice === 'auto' ? (stored === 2 ? '16-bit' : 'f32') : choice;
  const memory = `GPU memory ≈ ${fmtBytes(weights)} for ${name} weights`;
  out.dataset.weightBytes = String(weights); // the estimate, for the full-size page test
  const training = `≈ ${fmtBytes(weights + activations)} while training a LoRA adapter`;
  const each = (['auto', 'q8', 'q4'] as const).map((d) => `${d === 'auto' ? 'as stored' : d} ${fmtBytes(bytesOf(d))}`);
  out.textContent = `Download ${fmtBytes(c.bytes)}. ${memory}, ${training} (weights: ${each.join(' · ')}).`;
  if (adapter && adapter.limits.maxBufferSize < 128 * 2 ** 20) {
    const limit = fmtBytes(adapter.limits.maxBufferSize);
    out.textContent += ` This GPU's buffers are limited to ${limit}: large models may not fit.`;
    out.classList.add('warn');
  }
}

function specFor(kind: string): ModelSpec {
  return { ...sourceSpec(kind), weightDtype: val('model-dtype') as WeightDtypeChoice };
}

function sourceSpec(kind: string): ModelSpec {
  if (kind === 'demo')
    return { kind: 'url', baseUrl: new URL('models/tpo-demo/', document.baseURI).href, label: 'tpo-demo (embedded)' };
  if (kind === 'embedded')
    return {
      kind: 'url',
      baseUrl: new URL('models/stories260K/', document.baseURI).href,
      label: 'stories260K (embedded)',
    };
  if (kind === 'files') {
    if (!dropped.length) throw new Error('Drop a model folder first (or pick its files).');
    return { kind: 'files', files: dropped };
  }
  const repo = kind.startsWith('hub:') ? kind.slice(4) : val('repo').trim();
  if (!repo) throw new Error('Write a hub repo id, like HuggingFaceTB/SmolLM2-135M-Instruct.');
  return { kind: 'hub', repo, hubUrl: val('hub-url').trim() || undefined };
}

/** Files of a dropped folder (recursively). */
async function droppedFiles(items: DataTransferItemList): Promise<File[]> {
  const out: File[] = [];
  const walk = async (entry: FileSystemEntry): Promise<void> => {
    if (entry.isFile) out.push(await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej)));
    else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const e of batch) await walk(e);
      }
    }
  };
  for (const it of Array.from(items)) {
    const e = it.webkitGetAsEntry();
    if (e) await walk(e);
  }
  return out;
}

/** The adapters shipped next to the embedded demo model (npm run experiment -- --ship). */
const SHIPPED = [
  ['TPO adapter (shipped with tpo-demo)', 'tpo-demo-tpo'],
  ['direct-baseline adapter (shipped with tpo-demo)', 'tpo-demo-direct'],
];

export async function refreshAdapters(): Promise<void> {
  const sel = $<HTMLSelectElement>('adapter');
  const keep = sel.value;
  sel.replaceChildren(new Option('none (base model)', ''));
  if (state.modelKind === 'demo')
    for (const [label, folder] of SHIPPED) {
      const url = new URL(`models/${folder}/`, document.baseURI).href;
      sel.add(new Option(label, JSON.stringify({ url, label })));
    }
  for (const r of await engine.listRuns())
    for (const it of r.adapters)
      sel.add(new Option(`${r.id} · iteration ${it}`, JSON.stringify({ runId: r.id, iteration: it })));
  sel.value = [...sel.options].some((o) => o.value === keep) ? keep : '';
  sel.disabled = !state.loaded;
}

export function initModelView(): void {
  const params = new URLSearchParams(location.search);
  if (params.get('repo')) {
    $<HTMLSelectElement>('model-kind').value = 'hub';
    $<HTMLInputElement>('repo').value = params.get('repo')!;
  }
  if (params.get('hub')) $<HTMLInputElement>('hub-url').value = params.get('hub')!;
  // ?limits=default: the device gets WebGPU's default limits, as the smallest GPU would offer
  if (params.get('limits') === 'default') void engine.setDeviceOptions({ defaultLimits: true });
  const sync = () => {
    const kind = val('model-kind');
    $('hub-fields').hidden = kind !== 'hub' && !kind.startsWith('hub:');
    $<HTMLInputElement>('repo').disabled = kind !== 'hub';
    $('drop').hidden = kind !== 'files';
    void estimate();
  };
  $('model-kind').addEventListener('change', sync);
  $('model-dtype').addEventListener('change', () => void estimate());
  sync();
  initDropZone();
  initLoadForm();
  initAdapterChoice();
}

/** Dropped or picked model files: kept for the next load, the memory estimate redone. */
function initDropZone(): void {
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    dropped = await droppedFiles(e.dataTransfer!.items);
    void estimate();
  });
  $<HTMLInputElement>('folder').addEventListener('change', (e) => {
    dropped = Array.from((e.target as HTMLInputElement).files ?? []);
    void estimate();
  });
}

/** Load: the chosen model into the worker, with progress, then the screen's state and the adapter list. */
function initLoadForm(): void {
  $('model-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const status = $('model-status');
    const bar = $<HTMLProgressElement>('load-progress');
    status.classList.remove('error');
    status.textContent = 'Loading…';
    bar.hidden = false;
    $<HTMLButtonElement>('load').disabled = true;
    const t0 = performance.now();
    let done = 0,
      current = '',
      currentLoaded = 0;
    try {
      const kind = val('model-kind');
      const info = await engine.load(
        specFor(kind),
        proxy((p: Progress) => {
          if (p.file !== current) {
            done += currentLoaded;
            current = p.file;
          }
          currentLoaded = p.loaded;
          const secs = (performance.now() - t0) / 1000;
          const rate = (done + p.loaded) / Math.max(secs, 1e-3);
          if (p.total) bar.value = p.loaded / p.total;
          const eta = p.total && rate > 0 ? ` · ETA ${fmtSecs((p.total - p.loaded) / rate)}` : '';
          const of = p.total ? ` of ${fmtBytes(p.total)}` : '';
          status.textContent = `Loading ${p.file}: ${fmtBytes(p.loaded)}${of} · ${fmtBytes(rate)}/s${eta}`;
        }),
      );
      state.loaded = true;
      state.hasTokenizer = info.hasTokenizer;
      state.thinksNatively = info.thinksNatively;
      state.weightBytes = info.weightBytes;
      state.modelKind = kind;
      const shape = `${info.modelType}, ${info.layers} layers, hidden ${info.hidden}`;
      const on = `${info.adapter}${info.software ? ' (software, slow)' : ''}`;
      const weights = `${info.weightType} weights (${fmtBytes(info.weightBytes)})`;
      status.textContent = `${info.label}: ${shape}, ${weights} on ${on}; ${info.slots} sequences a batch`;
      // what the worker allocated for the weights, and the device's binding limit
      Object.assign(status.dataset, { weightBytes: info.weightBytes, maxBindingBytes: info.maxBindingBytes });
      await refreshAdapters();
      onLoaded.forEach((f) => f());
    } catch (e) {
      fail(status, e);
    } finally {
      bar.hidden = true;
      $<HTMLButtonElement>('load').disabled = false;
    }
  });
}

/** The adapter in use: a stored run's iteration, a shipped one, or none. */
function initAdapterChoice(): void {
  $('adapter').addEventListener('change', async () => {
    const v = val('adapter');
    const out = $('adapter-status');
    out.classList.remove('error');
    try {
      state.adapter = await engine.useAdapter(v ? JSON.parse(v) : null);
      out.textContent =
        state.adapter === 'none' ? 'Generating with the base model.' : `Generating with ${state.adapter}.`;
      if (state.adapter === 'none') state.adapter = '';
    } catch (e) {
      fail(out, e);
    }
  });
}
