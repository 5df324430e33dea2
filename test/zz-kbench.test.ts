import { it } from 'vitest';
import { Kernel, gemmKernel } from '../src/gpu/kernel';
import { testGpu } from './helpers/gpu';

it('kernel timings', async () => {
  const gpu = await testGpu();
  const dev = gpu.device;
  const N = 512, T = 64, S = 8, nH = 4, nKV = 2, hd = 32, H = 128, V = 512, I = 384;
  const buf = (n: number, fill?: (i: number) => number) => {
    const b = dev.createBuffer({ size: 4 * n, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    const d = new Float32Array(n); for (let i = 0; i < n; i++) d[i] = fill ? fill(i) : Math.sin(i) * 0.1;
    dev.queue.writeBuffer(b, 0, d); return b;
  };
  const rows = dev.createBuffer({ size: 8 * N, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  dev.queue.writeBuffer(rows, 0, Uint32Array.from({ length: 2 * N }, (_, i) => (i % 2 === 0 ? Math.floor(i / 2 / T) : (i / 2) % T)));
  const tgt = dev.createBuffer({ size: 4 * N, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  dev.queue.writeBuffer(tgt, 0, Uint32Array.from({ length: N }, (_, i) => i % V));
  const time = async (name: string, k: Kernel, params: Record<string, number>, bufs: GPUBuffer[], wg: [number, number?, number?]) => {
    const bg = k.bind(k.uniform(params), ...bufs);
    const run = async (reps: number) => {
      const enc = dev.createCommandEncoder(); const pass = enc.beginComputePass();
      for (let i = 0; i < reps; i++) { pass.setPipeline(k.pipeline); pass.setBindGroup(0, bg); pass.dispatchWorkgroups(wg[0], wg[1] ?? 1, wg[2] ?? 1); }
      pass.end(); dev.queue.submit([enc.finish()]); await dev.queue.onSubmittedWorkDone();
    };
    await run(1);
    const t = performance.now(); await run(3);
    console.log(`${name}: ${((performance.now() - t) / 3).toFixed(1)} ms`);
  };
  const q = buf(N * nH * hd), kc = buf(S * nKV * T * hd), vc = buf(S * nKV * T * hd), att = buf(N * nH * T), ao = buf(N * nH * hd);
  await time('attention forward', new Kernel(dev, 'attention', { entry: 'forward' }), { N, nH, nKV, hd, maxLen: T, scale: 0.17 }, [rows, q, kc, vc, att, ao], [nH, N]);
  const dAo = buf(N * nH * hd), dS = buf(N * nH * T), dq = buf(N * nH * hd), dK = buf(S * nKV * T * hd), dV = buf(S * nKV * T * hd);
  await time('attention backward_q', new Kernel(dev, 'attention', { entry: 'backward_q' }), { N, nH, nKV, hd, maxLen: T, scale: 0.17 }, [rows, q, kc, vc, att, dAo, dS, dq], [nH, N]);
  await time('attention backward_kv', new Kernel(dev, 'attention', { entry: 'backward_kv' }), { N, nH, nKV, hd, maxLen: T, scale: 0.17 }, [rows, q, kc, vc, att, dAo, dS, dK, dV], [T, nKV, S]);
  const x = buf(N * H), w = buf(H, () => 1), y = buf(N * H), rstd = buf(N);
  await time('rmsnorm forward', new Kernel(dev, 'rmsnorm', { entry: 'forward' }), { N, H, eps: 1e-5, saveRstd: 1 }, [x, w, y, rstd], [N]);
  const logits = buf(N * V), lse = buf(N), logp = buf(N), coef = buf(N), dl = buf(N * V);
  await time('logprob forward', new Kernel(dev, 'logprob', { entry: 'forward' }), { N, V }, [logits, tgt, lse, logp], [N]);
  await time('logprob backward', new Kernel(dev, 'logprob', { entry: 'backward' }), { N, V }, [logits, tgt, lse, coef, dl], [N]);
  const W = buf(I * H), out = buf(N * I), dummy = buf(4);
  for (const soft of [false, true]) await time(`gemm ${soft ? 'serial' : 'main'} ${N}x${I}x${H}`, gemmKernel(dev, soft), { M: N, Nn: I, K: H, sAm: H, sAk: 1, sBk: 1, sBn: H, ldc: I, alpha: 1, accumulate: 0, aOff: 0, cOff: 0, hasBias: 0 }, [x, W, out, dummy], [I / 32, N / 32]);
  for (const soft of [false, true]) await time(`gemm ${soft ? 'serial' : 'main'} dW ${I}x${H}x${N}`, gemmKernel(dev, soft), { M: I, Nn: H, K: N, sAm: 1, sAk: I, sBk: H, sBn: 1, ldc: H, alpha: 1, accumulate: 1, aOff: 0, cOff: 0, hasBias: 0 }, [out, x, W, dummy], [H / 32, I / 32]);
}, 600000);
