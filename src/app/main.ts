// The page: tabs over five screens, all GPU and tokenizer work in the engine worker. Model output
// is only ever set as textContent (a model can emit "<script>").

import './locale'; // before any module that formats numbers at load time
import { $, showNoWebGpu } from './dom';
import { state } from './engine';
import { initModelView, whenLoaded } from './model-view';
import { initChatView } from './chat-view';
import { initTrainView, enableTraining } from './train-view';
import { initWalkthroughView } from './walkthrough-view';
import { initDataView, refreshData } from './data-view';

const tabs = [...document.querySelectorAll<HTMLButtonElement>('[role="tab"]')];
function select(tab: HTMLButtonElement): void {
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute('aria-controls')!).hidden = !on;
  }
  if (tab.id === 'tab-data') void refreshData();
}
tabs.forEach((t, i) => {
  t.addEventListener('click', () => select(t));
  t.addEventListener('keydown', (e) => {
    const d = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!d) return;
    const next = tabs[(i + d + tabs.length) % tabs.length];
    next.focus();
    select(next);
  });
});
select(tabs[0]);

initModelView();
initChatView();
initTrainView();
initWalkthroughView();
initDataView();
whenLoaded(() => {
  $<HTMLButtonElement>('generate').disabled = false;
  enableTraining(state.hasTokenizer);
  $<HTMLButtonElement>('walk-run').disabled = !state.hasTokenizer;
  $<HTMLInputElement>('think').disabled = !state.hasTokenizer;
  for (const id of ['native-think', 'native']) {
    $<HTMLInputElement>(id).disabled = !state.thinksNatively;
    if (!state.thinksNatively) $<HTMLInputElement>(id).checked = false;
  }
});

if (!('gpu' in navigator)) showNoWebGpu('This browser does not expose navigator.gpu.');
else
  void navigator.gpu.requestAdapter().then(
    (a) => {
      if (!a)
        showNoWebGpu(
          'navigator.gpu is there, but no GPU adapter was offered (the GPU may be blocklisted or disabled).',
        );
    },
    (e: Error) => showNoWebGpu(`Requesting a GPU adapter failed: ${e.message}`),
  );
