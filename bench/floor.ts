// The hardware floor of a decode step, measured on this device in this run (the benchmark's
// `dispatch_us`, `copy_gbps`, `floor_ms` and `floor_efficiency`):
//   dispatch_us  GPU time of one empty dispatch (1,000 in one compute pass, wall clock to done)
//   copy_gbps    bytes per second of a large buffer-to-buffer copy (each byte read once, written once)
//   floor_ms     max(weight bytes / copy rate, dispatches × dispatch_us): a step can do no better
//                than read every weight once, nor than launch its dispatches
// A copy also writes, so the read-only floor of a real GPU can be lower still: the efficiency
// reported against it is, if anything, generous.

const EMPTY = '@compute @workgroup_size(1) fn main() {}';

async function done(dev: GPUDevice): Promise<void> {
  await dev.queue.onSubmittedWorkDone();
}

/** Microseconds per empty dispatch (best of three runs of 1,000). */
export async function dispatchMicros(dev: GPUDevice): Promise<number> {
  const pipeline = dev.createComputePipeline({
    layout: 'auto',
    compute: { module: dev.createShaderModule({ code: EMPTY }), entryPoint: 'main' },
  });
  const n = 1000;
  let best = Infinity;
  for (let run = 0; run < 4; run++) {
    const enc = dev.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    for (let i = 0; i < n; i++) pass.dispatchWorkgroups(1);
    pass.end();
    const t0 = performance.now();
    dev.queue.submit([enc.finish()]);
    await done(dev);
    if (run > 0) best = Math.min(best, ((performance.now() - t0) * 1000) / n); // run 0 warms up
  }
  return best;
}

/** Gigabytes per second copied buffer to buffer (best of three copies of `bytes`). */
export async function copyGbps(dev: GPUDevice, bytes = 64 * 2 ** 20): Promise<number> {
  const size = Math.min(bytes, dev.limits.maxBufferSize);
  const usage = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const src = dev.createBuffer({ size, usage });
  const dst = dev.createBuffer({ size, usage });
  let best = Infinity;
  for (let run = 0; run < 4; run++) {
    const enc = dev.createCommandEncoder();
    enc.copyBufferToBuffer(src, 0, dst, 0, size);
    const t0 = performance.now();
    dev.queue.submit([enc.finish()]);
    await done(dev);
    if (run > 0) best = Math.min(best, (performance.now() - t0) / 1000);
  }
  src.destroy();
  dst.destroy();
  return size / best / 1e9;
}

export interface Floor {
  floor_ms: number;
  floor_efficiency: number;
}

/** The floor of one decode step, and the share of it the measured step reached. */
export function floorOf(weightBytes: number, dispatches: number, msPerStep: number, d: number, gbps: number): Floor {
  const floor = Math.max(weightBytes / (gbps * 1e9), (dispatches * d) / 1e6) * 1000;
  return { floor_ms: floor, floor_efficiency: floor / msPerStep };
}
