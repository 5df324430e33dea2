// LoRA adapters at inference: generation with an attached adapter computes what the training
// graph computes, merging equals attaching, and PEFT files round-trip with PEFT's names/shapes.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ModelConfigError, SafetensorsError } from '../src/errors';
import { loadModel } from '../src/engine/model';
import { loadCheckpoint } from '../src/model/checkpoint';
import { parseSafetensors } from '../src/model/safetensors';
import { folderSource } from '../src/model/source-node';
import { LoraLayout, LoraState, TARGETS } from '../src/train/lora';
import { TrainGraph } from '../src/train/graph';
import { loadAdapter, saveAdapter } from '../src/train/peft';
import { readF32 } from '../src/gpu/readback';
import { rng } from '../src/rng';
import { logSoftmax } from './reference/ops';
import { expectClose } from './helpers/compare';
import { testGpu } from './helpers/gpu';
import { writeTinyModel } from './helpers/tiny-model';

let dir: string;
const tokens = [1, 9, 4, 33, 17, 2, 50, 8];
beforeAll(() => {
  dir = writeTinyModel(mkdtempSync(join(tmpdir(), 'tpo-adapter-')), {
    type: 'qwen2',
    seed: 70,
    hidden: 32,
    heads: 4,
    kvHeads: 2,
    intermediate: 48,
    layers: 2,
    vocab: 64,
  });
});

async function adapterValues(layout: LoraLayout) {
  const flat = layout.init(5);
  const r = rng(71);
  for (const m of layout.modules) for (let i = 0; i < m.B.length; i++) flat[m.B.offset + i] = (r() * 2 - 1) * 0.2;
  return flat;
}

describe('adapters at inference', () => {
  it('generation with an attached adapter scores tokens exactly as the training graph does', async () => {
    const gpu = await testGpu();
    const m = await loadModel(gpu, folderSource(dir), { slots: 1, maxLen: 16, maxRows: 16, maxOut: 16 });
    const layout = new LoraLayout(m.config, { r: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'o_proj', 'down_proj'] });
    const flat = await adapterValues(layout);
    const base = await m.logits(tokens);
    m.attachAdapter(layout, flat);
    const withLora = await m.logits(tokens);
    const V = m.config.vocab;
    // the training graph on the same tokens, targets = next token
    const state = new LoraState(gpu.device, layout, flat);
    const graph = new TrainGraph(gpu, m.config, m.weights, layout, state, { seqs: 1, seqLen: tokens.length });
    gpu.device.queue.writeBuffer(graph.ids, 0, new Uint32Array(tokens));
    gpu.device.queue.writeBuffer(graph.targets, 0, new Uint32Array([...tokens.slice(1), 0xffffffff]));
    const enc = gpu.device.createCommandEncoder();
    graph.encodeForward(enc, true);
    gpu.device.queue.submit([enc.finish()]);
    const lp = await readF32(gpu.device, graph.logp, tokens.length);
    const want = tokens.slice(1).map((t, p) => logSoftmax(withLora.subarray(p * V, (p + 1) * V))[t]);
    expectClose('training-graph logp vs generation logits', lp.subarray(0, tokens.length - 1), want, 1e-4, 1e-5);
    expect(Math.max(...Array.from(withLora, (v, i) => Math.abs(v - base[i])))).toBeGreaterThan(1e-3); // the adapter does something
    m.detachAdapter();
    expectClose('detached = base', await m.logits(tokens), base, 0, 0);
    graph.destroy();
    state.destroy();
    m.destroy();
  });

  it('an adapter’s steps are recorded once: switched off and on again it gives the same logits, recording nothing', async () => {
    const gpu = await testGpu();
    const m = await loadModel(gpu, folderSource(dir), { slots: 1, maxLen: 16, maxRows: 16, maxOut: 16 });
    const layout = new LoraLayout(m.config, { r: 4, alpha: 8, targets: [...TARGETS] });
    const base = await m.logits(tokens);
    m.attachAdapter(layout, await adapterValues(layout));
    const attached = m.forward.adapter!;
    const withLora = await m.logits(tokens);
    expect(m.forward.adapterPreparations).toBe(1);
    for (let i = 0; i < 3; i++) {
      m.forward.setAdapter(null);
      expectClose('off', await m.logits(tokens), base, 0, 0);
      m.forward.setAdapter(attached);
      expectClose('on again', await m.logits(tokens), withLora, 0, 0);
    }
    expect(m.forward.adapterPreparations).toBe(1);
    m.attachAdapter(layout, layout.init(9)); // a new adapter is recorded anew
    expect(m.forward.adapterPreparations).toBe(2);
    m.destroy();
  });

  it('merged weights (W + (alpha/r)·B·A) give the logits of the unmerged adapter; unmerge restores', async () => {
    const gpu = await testGpu();
    const m = await loadModel(gpu, folderSource(dir), { slots: 1, maxLen: 32, maxRows: 32, maxOut: 32 });
    const layout = new LoraLayout(m.config, { r: 4, alpha: 16, targets: [...TARGETS] });
    for (const seq of [tokens, [...tokens, ...tokens, 5, 6, 7]]) {
      // one pass of 8 rows (decode matmul) and of 19 (prefill gemm)
      const base = await m.logits(seq);
      m.attachAdapter(layout, await adapterValues(layout));
      const attached = await m.logits(seq);
      m.mergeAdapter();
      expectClose('merged vs attached', await m.logits(seq), attached, 1e-4, 1e-5);
      m.unmergeAdapter();
      expectClose('unmerged + attached', await m.logits(seq), attached, 1e-4, 1e-5);
      m.detachAdapter();
      expectClose('base after unmerge', await m.logits(seq), base, 1e-4, 1e-5);
    }
    m.destroy();
  });
});

describe('PEFT files', () => {
  it('round trip: save, load, identical values and logits; PEFT tensor names and shapes', async () => {
    const gpu = await testGpu();
    const ck = await loadCheckpoint(folderSource(dir));
    const layout = new LoraLayout(ck.config, { r: 4, alpha: 8, targets: [...TARGETS] });
    const flat = await adapterValues(layout);
    const files = saveAdapter(layout, flat, 'tiny/qwen2');
    const cfgJson = JSON.parse(new TextDecoder().decode(files['adapter_config.json']));
    expect(cfgJson).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 4,
      lora_alpha: 8,
      bias: 'none',
      base_model_name_or_path: 'tiny/qwen2',
      fan_in_fan_out: false,
      use_rslora: false,
      use_dora: false,
      inference_mode: true,
    });
    expect(cfgJson.target_modules).toEqual([...TARGETS]);
    const h = parseSafetensors(files['adapter_model.safetensors'], 'adapter');
    expect(h.metadata).toEqual({ format: 'pt' });
    expect(h.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!.shape).toEqual([4, 32]);
    expect(h.tensors.get('base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight')!.shape).toEqual([16, 4]);
    expect(h.tensors.get('base_model.model.model.layers.1.mlp.down_proj.lora_A.weight')!.shape).toEqual([4, 48]);
    expect(h.tensors.size).toBe(2 * 7 * 2);

    const back = loadAdapter(ck.config, files['adapter_config.json'], files['adapter_model.safetensors']);
    expect(Array.from(back.values)).toEqual(Array.from(flat));
    const m = await loadModel(gpu, folderSource(dir), { slots: 1, maxLen: 16, maxRows: 16, maxOut: 16 });
    m.attachAdapter(layout, flat);
    const a = await m.logits(tokens);
    m.attachAdapter(back.layout, back.values);
    expectClose('reloaded adapter logits', await m.logits(tokens), a, 0, 0);
    m.destroy();
  });

  it('an adapter for another model or base fails with a clear error', async () => {
    const ck = await loadCheckpoint(folderSource(dir));
    const other = writeTinyModel(mkdtempSync(join(tmpdir(), 'tpo-adapter2-')), {
      type: 'qwen2',
      seed: 1,
      hidden: 64,
      heads: 4,
      kvHeads: 2,
      intermediate: 48,
      layers: 2,
      vocab: 64,
    });
    const ck2 = await loadCheckpoint(folderSource(other));
    const l2 = new LoraLayout(ck2.config, { r: 4, alpha: 8, targets: ['q_proj'] });
    const files = saveAdapter(l2, l2.init(1), 'someone/bigger-model');
    expect(() => loadAdapter(ck.config, files['adapter_config.json'], files['adapter_model.safetensors'])).toThrow(
      SafetensorsError,
    );
    expect(() => loadAdapter(ck.config, files['adapter_config.json'], files['adapter_model.safetensors'])).toThrow(
      /has shape \[4,64\], this model needs \[4,32\]/,
    );
    const l1 = new LoraLayout(ck.config, { r: 4, alpha: 8, targets: ['q_proj'] });
    const f1 = saveAdapter(l1, l1.init(1), 'someone/model-a');
    expect(() =>
      loadAdapter(ck.config, f1['adapter_config.json'], f1['adapter_model.safetensors'], {
        baseModel: 'someone/model-b',
      }),
    ).toThrow(ModelConfigError);
    const bad = new TextEncoder().encode(
      JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['lm_head'] }),
    );
    expect(() => loadAdapter(ck.config, bad, f1['adapter_model.safetensors'])).toThrow(/target_modules/);
  });
});
