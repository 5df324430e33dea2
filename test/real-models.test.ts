// The models users bring, with their real files (../shared/models/real: config, tokenizer,
// tokenizer config, no weights): chat templates rendered exactly as the model cards document them
// (written out by hand here), Qwen3's enable_thinking set on purpose (off for the direct baseline
// and TPO's prompts, on for the native thought mode), native thoughts parsed and kept in pairs as
// the template stores an assistant turn, a tokenizer of another model refused; and real-shape
// folders (seeded bf16 weights of the real names and shapes, fewer layers) that generate, train a
// LoRA DPO adapter with TRL's truncation flags, train a reward model and export PEFT adapters on
// the real vocabularies of 49,152 and 151,936 rows.

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ModelSourceError } from '../src/errors';
import { loadModel } from '../src/engine/model';
import { parseSafetensors } from '../src/model/safetensors';
import { folderSource } from '../src/model/source-node';
import { loadTokenizer, type Tokenizer } from '../src/model/tokenizer';
import { tokenizePairs } from '../src/train/data';
import { promptIds } from '../src/tpo/instructions';
import { DIRECT, GENERIC, NATIVE, parseOutput, renderPrompt } from '../src/tpo/prompts';
import { testGpu } from './helpers/gpu';
import { runNodeScript } from './helpers/node-script';
import { REAL_DIR, type RealModel, writeRealShapeModel } from './helpers/real-model';

const TPO = join(__dirname, '../bin/tpo.mjs');
const tpo = (args: string[]) => runNodeScript(TPO, args);
const HI = [{ role: 'user' as const, content: 'Hi' }];
const tokenizers = new Map<RealModel, Tokenizer>();
const real = (m: RealModel) => tokenizers.get(m)!;

beforeAll(async () => {
  for (const m of ['SmolLM2-135M-Instruct', 'SmolLM2-360M-Instruct', 'Qwen2.5-0.5B-Instruct', 'Qwen3-0.6B'] as const)
    tokenizers.set(m, (await loadTokenizer(folderSource(join(REAL_DIR, m))))!);
});

describe('real chat templates', () => {
  it('render the strings the model cards document, with the default system prompts', () => {
    const smol =
      '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' +
      '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n';
    expect(real('SmolLM2-135M-Instruct').chatTemplateText(HI)).toBe(smol);
    expect(real('SmolLM2-360M-Instruct').chatTemplateText(HI)).toBe(smol);
    expect(real('Qwen2.5-0.5B-Instruct').chatTemplateText(HI)).toBe(
      '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' +
        '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
    const system = [{ role: 'system' as const, content: 'Be brief.' }, ...HI];
    expect(real('SmolLM2-135M-Instruct').chatTemplateText(system)).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
    // an assistant turn closes with <|im_end|> and no generation prompt follows
    expect(
      real('Qwen2.5-0.5B-Instruct').chatTemplateText([...HI, { role: 'assistant', content: 'Hello!' }], false),
    ).toMatch(/<\|im_start\|>assistant\nHello!<\|im_end\|>\n$/);
  });

  it('Qwen3: enable_thinking is always set — off by default (13 tokens for "Hi"), on for native thinking', () => {
    const q = real('Qwen3-0.6B');
    expect(q.thinkingToggle).toBe(true);
    expect(real('Qwen2.5-0.5B-Instruct').thinkingToggle).toBe(false);
    expect(real('SmolLM2-135M-Instruct').thinkingToggle).toBe(false);
    const direct = '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n';
    expect(q.chatTemplateText(HI)).toBe(direct);
    expect(q.applyChatTemplate(HI)).toHaveLength(13);
    expect(q.chatTemplateText(HI, true, { enableThinking: true })).toBe(
      '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
    // the tags are single tokens of the vocabulary, decoded back as text (not special tokens)
    const ids = q.encode('<think>\nok\n</think>', false);
    expect(ids[0]).toBe(151667);
    expect(ids.at(-1)).toBe(151668);
    expect(q.decode(ids)).toBe('<think>\nok\n</think>');
  });

  it('native thought mode needs a template that knows enable_thinking: a typed error that says what to do', () => {
    let err: unknown;
    try {
      real('Qwen2.5-0.5B-Instruct').applyChatTemplate(HI, true, { enableThinking: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelSourceError);
    expect(String((err as Error).message)).toMatch(/no enable_thinking/);
    expect((err as ModelSourceError).hint).toMatch(/generic/);
  });

  it('native outputs parse into the think block and the response; an unclosed block is a parse failure', () => {
    expect(parseOutput(NATIVE, '<think>\nHi means hello.\n</think>\n\nHello!')).toEqual({
      ok: true,
      thought: 'Hi means hello.',
      response: 'Hello!',
    });
    expect(parseOutput(NATIVE, '<think>\nstill thinking').ok).toBe(false);
    expect(parseOutput(NATIVE, '<think>\n</think>\n\n').ok).toBe(false); // no response
  });

  it('pairs keep a native think block as the template stores it, prompts as they were sampled', () => {
    const q = real('Qwen3-0.6B');
    const prompt = [{ role: 'user', content: 'What is 2 + 2?' }];
    const native = { role: 'assistant', content: '<think>\nTwo and two.\n</think>\n\n4' };
    const plain = { role: 'assistant', content: '4' };
    const [n] = tokenizePairs([{ prompt, chosen: [native], rejected: [native] }], q, undefined, 256);
    const nativePrompt = q.applyChatTemplate(prompt as never, true, { enableThinking: true });
    expect(n.chosen.ids.slice(0, n.chosen.completionStart)).toEqual(nativePrompt);
    expect(q.decode(n.chosen.ids.slice(n.chosen.completionStart), false)).toBe(
      '<think>\nTwo and two.\n</think>\n\n4<|im_end|>\n',
    );
    const [p] = tokenizePairs([{ prompt, chosen: [plain], rejected: [plain] }], q, undefined, 256);
    expect(p.chosen.ids.slice(0, p.chosen.completionStart)).toEqual(q.applyChatTemplate(prompt as never));
    expect(q.decode(p.chosen.ids.slice(p.chosen.completionStart), false)).toBe('4<|im_end|>\n');
  });

  it('a tokenizer.json of another model (ids past config.json vocab_size) is refused at load', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tpo-mismatch-'));
    writeFileSync(join(dir, 'config.json'), readFileSync(join(REAL_DIR, 'SmolLM2-135M-Instruct/config.json')));
    for (const f of ['tokenizer.json', 'tokenizer_config.json'])
      copyFileSync(join(REAL_DIR, 'Qwen2.5-0.5B-Instruct', f), join(dir, f));
    const err = await loadTokenizer(folderSource(dir)).catch((e) => e);
    expect(err).toBeInstanceOf(ModelSourceError);
    expect(err.message).toMatch(/ids up to 151664 but config.json's vocab_size is 49152/);
    expect(err.hint).toMatch(/same repo/);
  });
});

describe('real shapes, fewer layers, real vocabularies', () => {
  const root = mkdtempSync(join(tmpdir(), 'tpo-real-'));
  const folder = (name: RealModel, layers: number, classification = false) => {
    const dir = join(root, `${name}-${layers}${classification ? '-rm' : ''}`);
    writeRealShapeModel(name, dir, { layers, classification });
    return dir;
  };

  it('Qwen3 (1 layer): prompts of the direct, generic and native modes, and greedy generation', async () => {
    const dir = folder('Qwen3-0.6B', 1);
    const m = await loadModel(await testGpu(), folderSource(dir), { slots: 2, maxLen: 128 });
    const text = (ids: number[]) => m.tokenizer!.decode(ids, false);
    expect(text(promptIds(m, DIRECT, 'Hi'))).toBe(
      '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
    );
    expect(text(promptIds(m, GENERIC, 'Hi'))).toMatch(
      /User query: Hi<\|im_end\|>\n<\|im_start\|>assistant\n<think>\n\n<\/think>\n\n$/,
    );
    expect(text(promptIds(m, NATIVE, 'Hi'))).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    const [g] = await m.generate([promptIds(m, NATIVE, 'Hi')], { maxNewTokens: 3, temperature: 0 });
    expect(g.tokenIds).toHaveLength(3);
    expect(m.weights.wt).toBe('bf16');
    m.destroy();
  });

  it('SmolLM2-135M (2 layers, 49,152 rows): tpo generate, tpo dpo with TRL truncation flags, its PEFT adapter', async () => {
    const dir = folder('SmolLM2-135M-Instruct', 2);
    const g = await tpo(['generate', '--model', dir, '--prompt', 'Hi', '--max-new-tokens', '3', '--json']);
    expect(g.code ?? 0, g.stderr).toBe(0);
    expect(JSON.parse(g.stdout.trim().split('\n')[0]).token_ids).toHaveLength(3);
    await dpoAndCheck(dir, 49152, 576);
  });

  it('Qwen2.5-0.5B (1 layer, 151,936 rows): tpo dpo and its PEFT adapter', async () => {
    await dpoAndCheck(folder('Qwen2.5-0.5B-Instruct', 1), 151936, 896);
  });

  it('Qwen2.5-0.5B as a reward model (1 layer, Qwen2ForSequenceClassification): tpo rm, LoRA + score head', async () => {
    const rm = folder('Qwen2.5-0.5B-Instruct', 1, true);
    const pairs = join(root, 'rm-pairs.jsonl');
    const row = (q: string, a: string, b: string) =>
      JSON.stringify({
        prompt: [{ role: 'user', content: q }],
        chosen: [{ role: 'assistant', content: a }],
        rejected: [{ role: 'assistant', content: b }],
      });
    writeFileSync(pairs, `${row('2+2?', '4', '5')}\n`);
    const out = join(root, 'rm-adapter');
    const r = await tpo(['rm', '--model', rm, '--pairs', pairs, '--out', out, '--epochs', '1', '--max-length', '64']);
    expect(r.code ?? 0, r.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ task_type: 'SEQ_CLS', modules_to_save: ['score'] });
    const header = tensorShapes(join(out, 'adapter_model.safetensors'));
    expect(header['base_model.model.score.weight'].shape).toEqual([1, 896]);
  });
});

/** name → shape of a safetensors file's tensors. */
function tensorShapes(file: string): Record<string, { shape: number[] }> {
  return Object.fromEntries(
    [...parseSafetensors(readFileSync(file), file).tensors].map(([k, t]) => [k, { shape: t.shape }]),
  );
}

/** tpo dpo on a conversational pair (a long prompt cut by --max-prompt-length, the completion by --max-completion-length), then the adapter's PEFT names and shapes. */
async function dpoAndCheck(dir: string, vocab: number, hidden: number): Promise<void> {
  const pairs = join(dir, 'pairs.jsonl');
  const long = renderPrompt(GENERIC, 'Tell me about the sea. '.repeat(20));
  const row = (q: string) =>
    JSON.stringify({
      prompt: [{ role: 'user', content: q }],
      chosen: [{ role: 'assistant', content: 'The sea is large.' }],
      rejected: [{ role: 'assistant', content: 'No.' }],
    });
  writeFileSync(pairs, `${row(long)}\n`);
  const out = join(dir, 'adapter');
  mkdirSync(out, { recursive: true });
  const flags = ['--max-length', '24', '--max-prompt-length', '16', '--max-completion-length', '4', '--epochs', '1'];
  const r = await tpo(['dpo', '--model', dir, '--pairs', pairs, '--out', out, '--lora-r', '4', ...flags]);
  expect(r.code ?? 0, r.stderr).toBe(0);
  const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
  expect(config).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4 });
  const header = tensorShapes(join(out, 'adapter_model.safetensors'));
  const q = header['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'];
  expect(q.shape).toEqual([4, hidden]);
  expect(Object.keys(header).some((k) => k.includes('embed_tokens'))).toBe(false);
  // the base it trained over has the real vocabulary's embedding (tied: the LM head too)
  expect(tensorShapes(join(dir, 'model.safetensors'))['model.embed_tokens.weight'].shape).toEqual([vocab, hidden]);
}
