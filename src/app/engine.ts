// The page's handle on the engine worker (comlink). All GPU and tokenizer work runs there.

import * as Comlink from 'comlink';
import type { EngineApi } from '../worker/protocol';

const worker = new Worker(new URL('../worker/engine.worker.ts', import.meta.url), { type: 'module' });
export const engine = Comlink.wrap<EngineApi>(worker);
// The engine on the console for those who want to script it (and the recovery tests): window.tpoEngine.
(globalThis as { tpoEngine?: typeof engine }).tpoEngine = engine;
export const proxy = Comlink.proxy;

/** What the page knows about the loaded model. */
export const state = {
  ...{ loaded: false, hasTokenizer: false, thinksNatively: false },
  ...{ modelKind: '', adapter: '', weightBytes: 0 },
};
