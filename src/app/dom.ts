// Small DOM helpers for the page. Model output only ever goes through textContent.

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
};
export const val = (id: string): string => $<HTMLInputElement>(id).value;
export const num = (id: string): number => Number($<HTMLInputElement>(id).value);

/** An element with text content (never HTML) and optional class. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  cls?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

/** Shows an error where it happened; a lost device or missing WebGPU also raises the banner. */
export function fail(where: HTMLElement, e: unknown): void {
  const err = e as Error;
  where.textContent = `${err.name && err.name !== 'Error' ? err.name + ': ' : ''}${err.message}`;
  where.classList.add('error');
  if (err.name === 'WebGPUNotAvailableError') showNoWebGpu(err.message);
  if (err.name === 'DeviceLostError' || /device (was )?lost|out of memory/i.test(err.message)) {
    banner(
      'The GPU device was lost or ran out of memory. Your runs, pairs and adapters are saved in this browser: ' +
        'press Start to resume the run from its last saved unit (the model is loaded again onto a new device); ' +
        'if that fails too, reload the page and load the model again.',
    );
  }
}

export function banner(text: string): void {
  const b = $('banner');
  b.textContent = text;
  b.hidden = false;
}

export function showNoWebGpu(reason: string): void {
  $('no-webgpu').hidden = false;
  $('no-webgpu-reason').textContent = reason;
  for (const id of ['tabs']) $(id).hidden = true;
  document.querySelector('main')!.hidden = true;
}

export const fmtBytes = (n: number) =>
  n >= 2 ** 30
    ? `${(n / 2 ** 30).toFixed(2)} GiB`
    : n >= 2 ** 20
      ? `${(n / 2 ** 20).toFixed(1)} MiB`
      : `${(n / 1024).toFixed(0)} KiB`;
export const fmtSecs = (s: number) =>
  s >= 90 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(0)} s`;
