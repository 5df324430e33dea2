// A one-line download progress display for a terminal (bytes, rate, ETA).

import type { ProgressFn } from '../model/source';

export function progressLine(stream: NodeJS.WriteStream): ProgressFn {
  const start = Date.now();
  let last = 0;
  return ({ file, loaded, total }) => {
    const now = Date.now();
    if (now - last < 100 && loaded !== total) return;
    last = now;
    const rate = loaded / Math.max(0.001, (now - start) / 1000);
    const mb = (b: number) => (b / 2 ** 20).toFixed(1);
    const eta = total ? ` ETA ${Math.max(0, (total - loaded) / rate).toFixed(0)}s` : '';
    stream.write(`\r${file}: ${mb(loaded)}${total ? '/' + mb(total) : ''} MiB ${mb(rate)} MiB/s${eta}\x1b[K`);
    if (total && loaded === total) stream.write('\n');
  };
}
