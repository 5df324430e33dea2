// `tpo generate`: sample from a model on the GPU.

import { parseArgs } from 'node:util';
import type { Gpu } from '../gpu/device';
import { UsageError } from '../errors';
import { loadModel, type LoadedModel } from '../engine/model';
import type { Generation } from '../engine/generate';
import type { ChatMessage } from '../model/tokenizer';
import { DTYPE_HELP, dtypeFlag, modelSource } from './model-arg';
import { progressLine } from './progress';
import { readAdapterFolder } from './train';
import { loadAdapter } from '../train/peft';
import { BUILTIN_PROMPTS, DIRECT, renderPrompt, templateOptions, type ThoughtPrompt } from '../tpo/prompts';
import { type Response, respond } from '../tpo/respond';
import { flags, numberFlag } from './flags';

export const GENERATE_HELP = `tpo generate [--model <folder|hub repo id>]
             (--prompt TEXT | --messages JSON | --prompt-ids 1,2,3)
             [--max-new-tokens 128] [--temperature 0.8] [--top-p 0.95] [--seed 0] [--num-samples 1]
             [--stop STRING]... [--max-len 1024] [--dtype auto|f32|bf16|f16|q8|q4] [--adapter DIR]
             [--hub-url URL] [--revision main] [--json]
             [--think] [--thought-prompt generic|specific|native] [--show-thought] [--retries 2]

  --model        a folder with config.json + model.safetensors, or a hub repo id (cached after the
                 first download). Default: the embedded tpo-demo model (public/models/tpo-demo).
  --prompt       user text, wrapped in the model's chat template
  --messages     a JSON array of {"role","content"} messages, wrapped in the chat template
  --prompt-ids   raw token ids, no template (works for a model without a tokenizer)
                 With none of the three: the BOS token.
  --adapter      a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors)
  --temperature  0 = greedy
  --num-samples  K samples of the same prompt, seeds seed .. seed+K-1, generated as one batch
  --dtype        ${DTYPE_HELP}
  --think        wrap --prompt in a TPO thought prompt (--thought-prompt, default generic) and print
                 only the response: the thought stays hidden (--show-thought prints it on stderr);
                 an output without the separator is resampled up to --retries times, never printed
                 as an answer. --thought-prompt native: the model's own <think> block is the thought
                 (models whose chat template knows enable_thinking, e.g. Qwen3). Without it, such a
                 template is always rendered with enable_thinking off
  --json         one JSON line per sample: {"sample", "token_ids", "text", "finish_reason"} (+ "thought",
                 "response", "parsed" with --think)`;

/** The command's flags (the docs test checks every documented flag against them). */
export const OPTIONS = {
  model: { type: 'string' },
  prompt: { type: 'string' },
  messages: { type: 'string' },
  'prompt-ids': { type: 'string' },
  'max-new-tokens': { type: 'string', default: '128' },
  temperature: { type: 'string', default: '0.8' },
  'top-p': { type: 'string', default: '0.95' },
  seed: { type: 'string', default: '0' },
  'num-samples': { type: 'string', default: '1' },
  stop: { type: 'string', multiple: true },
  'max-len': { type: 'string', default: '1024' },
  dtype: { type: 'string', default: 'auto' },
  'hub-url': { type: 'string' },
  revision: { type: 'string' },
  adapter: { type: 'string' },
  json: { type: 'boolean', default: false },
  think: { type: 'boolean', default: false },
  'thought-prompt': { type: 'string', default: 'generic' },
  'show-thought': { type: 'boolean', default: false },
  retries: { type: 'string', default: '2' },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];

/** The flags checked before any model is loaded. */
function settings(a: Flags) {
  const num = flags(a);
  const s = {
    maxNew: num('max-new-tokens', 0, { integer: true, min: 1 }),
    temperature: num('temperature', 0, { min: 0 }),
    topP: num('top-p', 1, { min: 0, max: 1, minExclusive: true }),
    seed: num('seed', 0, { integer: true, min: 0 }),
    k: num('num-samples', 1, { integer: true, min: 1 }),
    maxLen: num('max-len', 0, { integer: true, min: 2 }),
    retries: num('retries', 2, { integer: true, min: 0 }),
    think: a.think ? BUILTIN_PROMPTS[a['thought-prompt'] ?? 'generic'] : null,
  };
  dtypeFlag(a.dtype);
  if ([a.prompt, a.messages, a['prompt-ids']].filter((x) => x !== undefined).length > 1)
    throw new UsageError('give only one of --prompt, --messages, --prompt-ids');
  if (s.think === undefined || (s.think && !s.think.separator))
    throw new UsageError(`--thought-prompt ${a['thought-prompt']}: expected generic, specific or native`);
  if (s.think && a.prompt === undefined)
    throw new UsageError('--think wraps --prompt in a thought prompt: give --prompt');
  return s;
}

/** The prompt's token ids: --prompt-ids as given, --prompt or --messages through the chat template, else BOS. */
function promptTokens(a: Flags, m: LoadedModel, think: ThoughtPrompt | null, label: string): number[] {
  const tok = m.tokenizer;
  if (a['prompt-ids'] !== undefined)
    return a['prompt-ids'].split(',').map((s) => numberFlag('prompt-ids', s.trim(), 0, { integer: true, min: 0 }));
  if (a.prompt !== undefined || a.messages !== undefined) {
    if (!tok) throw new UsageError(`${label} has no tokenizer.json`, 'Use --prompt-ids with token ids.');
    const text = a.prompt ?? '';
    const messages: ChatMessage[] =
      a.messages !== undefined
        ? parseMessages(a.messages)
        : [{ role: 'user', content: think ? renderPrompt(think, text) : text }];
    if (think?.nativeThinking && !tok.hasChatTemplate)
      throw new UsageError(`${label} has no chat template: --thought-prompt native needs one with enable_thinking`);
    return tok.hasChatTemplate
      ? tok.applyChatTemplate(messages, true, templateOptions(think ?? DIRECT))
      : tok.encode(messages.map((x) => x.content).join('\n'));
  }
  const bos = m.config.bosTokenId ?? tok?.raw.bos_token_id;
  if (bos === undefined || bos === null)
    throw new UsageError('this model has no BOS token: give --prompt, --messages or --prompt-ids');
  return [bos];
}

function parseMessages(json: string): ChatMessage[] {
  let messages: ChatMessage[];
  try {
    messages = JSON.parse(json);
  } catch (e) {
    throw new UsageError(`--messages is not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(messages) || messages.some((x) => typeof x?.role !== 'string' || typeof x?.content !== 'string'))
    throw new UsageError('--messages must be a JSON array of {"role": ..., "content": ...}');
  return messages;
}

export async function generateCommand(argv: string[], gpu: Gpu): Promise<void> {
  const { values: a } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  const s = settings(a);
  const src = await modelSource(a.model, { hubUrl: a['hub-url'], revision: a.revision });
  const m = await loadModel(gpu, src, {
    maxSlots: s.k, // the K samples in one batch where they fit
    maxLen: s.maxLen,
    weightDtype: dtypeFlag(a.dtype),
    onProgress: process.stderr.isTTY ? progressLine(process.stderr) : undefined,
  });
  if (a.adapter) {
    const files = await readAdapterFolder(a.adapter);
    const ad = loadAdapter(m.config, files.config, files.weights, { baseModel: a.model });
    m.attachAdapter(ad.layout, ad.values);
  }
  const prompt = promptTokens(a, m, s.think, src.label);
  const prompts = Array.from({ length: s.k }, () => prompt);
  const sampling = {
    maxNewTokens: s.maxNew,
    temperature: s.temperature,
    topP: s.topP,
    seed: s.seed,
    stopStrings: a.stop,
  };
  const t0 = performance.now();
  if (s.think) {
    // Samples whose output has no separator are resampled (never shown as answers).
    const results = await respond(m, prompts, s.think, { ...sampling, retries: s.retries });
    printResponses(a, results, s.retries);
    const secs = ((performance.now() - t0) / 1000).toFixed(2);
    process.stderr.write(`tpo: ${s.k} sample(s) in ${secs} s on ${gpu.adapterName}\n`);
  } else {
    printSamples(a, m, await m.generate(prompts, sampling));
    const t = m.generator.timings;
    const secs = ((performance.now() - t0) / 1000).toFixed(2);
    const decode = (t.decodeTokens / (t.decodeMs / 1000 || 1)).toFixed(1);
    const rates = `(prefill ${t.prefillTokens} tok, decode ${decode} tok/s)`;
    const tokens = `${t.decodeTokens + s.k} new tokens in ${secs} s ${rates}`;
    process.stderr.write(`tpo: ${s.k} sample(s), ${tokens} on ${gpu.adapterName}\n`);
  }
  m.destroy();
}

/** --think: the response of each sample (the thought on stderr with --show-thought), or JSON lines. */
function printResponses(a: Flags, results: Response[], retries: number): void {
  results.forEach(({ generation: g, parsed: p }, i) => {
    if (a.json) {
      const parsed = { parsed: p.ok, thought: p.ok ? p.thought : null, response: p.ok ? p.response : null };
      const line = { sample: i, token_ids: g.tokenIds, text: g.text ?? '', finish_reason: g.finishReason, ...parsed };
      process.stdout.write(`${JSON.stringify(line)}\n`);
      return;
    }
    if (results.length > 1) process.stdout.write(`--- sample ${i} ---\n`);
    if (a['show-thought'] && p.ok) process.stderr.write(`(thought) ${p.thought}\n`);
    if (p.ok) process.stdout.write(`${p.response}\n`);
    else
      process.stderr.write(`tpo: sample ${i} did not follow the answer format in ${retries + 1} attempts; no answer\n`);
  });
}

/** Each sample's text (token ids for a model without a tokenizer), or JSON lines. */
function printSamples(a: Flags, m: LoadedModel, out: Generation[]): void {
  out.forEach((g, i) => {
    const text = g.text ?? '';
    if (a.json) {
      const line = { sample: i, token_ids: g.tokenIds, text, finish_reason: g.finishReason };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    } else {
      if (out.length > 1) process.stdout.write(`--- sample ${i} (${g.finishReason}) ---\n`);
      process.stdout.write(`${m.tokenizer ? text : g.tokenIds.join(' ')}\n`);
    }
  });
}
