// The Data screen: runs, pairs and adapters stored in IndexedDB; export (TRL JSONL pairs, PEFT
// adapters, metrics CSV), import, delete with confirmation; storage used vs quota.

import { $, el, fail, fmtBytes, val } from './dom';
import { engine, state } from './engine';
import { refreshAdapters } from './model-view';
import { showRun } from './train-view';

async function exportRun(runId: string): Promise<void> {
  const list = $('exports');
  list.textContent = '';
  const files = await engine.exportRun(runId);
  for (const [name, bytes] of Object.entries(files)) {
    const a = el('a', `${name} (${bytes.byteLength} bytes)`);
    a.href = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>]));
    a.download = `${runId}-${name}`;
    a.dataset.name = name;
    const li = el('li');
    li.append(a);
    list.append(li);
  }
}

export async function refreshData(): Promise<void> {
  const id = $<HTMLInputElement>('data-run-id');
  if (!id.value.trim()) id.value = val('run-id').trim(); // the Train screen's run, unless one was chosen here
  const est = await navigator.storage?.estimate?.();
  $('storage').textContent = est
    ? `Storage: ${fmtBytes(est.usage ?? 0)} used of ${fmtBytes(est.quota ?? 0)} available to this site.`
    : '';
  const body = $('runs').querySelector('tbody')!;
  body.replaceChildren();
  for (const r of await engine.listRuns()) {
    const tr = el('tr');
    [r.id, r.model, String(r.iterations), String(r.pairs), r.adapters.length ? r.adapters.join(', ') : '—'].forEach(
      (c) => tr.append(el('td', c)),
    );
    const actions = el('td');
    const show = el('button', 'Show', 'secondary');
    show.type = 'button';
    show.addEventListener('click', () => {
      $<HTMLInputElement>('run-id').value = r.id;
      $<HTMLInputElement>('data-run-id').value = r.id;
      void showRun(r.id);
    });
    const exp = el('button', 'Export', 'secondary');
    exp.type = 'button';
    exp.addEventListener('click', () => void exportRun(r.id).catch((e) => fail($('data-status'), e)));
    const del = el('button', 'Delete', 'danger');
    del.type = 'button';
    del.setAttribute('aria-label', `Delete run ${r.id}`);
    del.addEventListener('click', async () => {
      if (
        !confirm(
          `Delete run "${r.id}" with its ${r.pairs} pairs and ${r.adapters.length} adapters? This cannot be undone.`,
        )
      )
        return;
      await engine.deleteRun(r.id);
      if (localStorage.getItem('tpo-active-run') === r.id) localStorage.removeItem('tpo-active-run');
      await refreshData();
      if (state.loaded) await refreshAdapters();
    });
    actions.append(show, exp, del);
    tr.append(actions);
    body.append(tr);
  }
}

export function initDataView(): void {
  $('export').addEventListener('click', async () => {
    try {
      await exportRun(val('data-run-id').trim());
    } catch (e) {
      fail($('data-status'), e);
    }
  });
  $<HTMLInputElement>('import').addEventListener('change', async (ev) => {
    const input = ev.target as HTMLInputElement;
    const status = $('data-status');
    status.classList.remove('error');
    try {
      const runId = val('data-run-id').trim();
      if (!runId) throw new Error('Write the run id to import into first.');
      const files: Record<string, Uint8Array> = {};
      for (const f of Array.from(input.files ?? []))
        files[f.name.replace(/^.*-(?=(pairs|adapter)-\d+\.|metrics\.csv$)/, '')] = new Uint8Array(
          await f.arrayBuffer(),
        );
      const done = await engine.importRun(runId, files);
      status.textContent = `Imported ${done.join(', ')} into run "${runId}".`;
      await refreshData();
    } catch (e) {
      fail(status, e);
    } finally {
      input.value = '';
    }
  });
}
