// PEFT LoRA adapter folders: adapter_config.json + adapter_model.safetensors, with PEFT's tensor
// names (base_model.model.model.layers.{i}.{self_attn|mlp}.{target}.lora_{A|B}.weight) and
// shapes (A [r, in], B [out, r]), so an adapter moves losslessly to and from Python PEFT.
// A reward model's adapter (task_type SEQ_CLS) also carries its trained score head whole, as PEFT
// saves a module in modules_to_save: "base_model.model.score.weight".

import { ModelConfigError, SafetensorsError } from '../errors';
import type { ModelConfig } from '../model/config';
import { toF32 } from '../model/dtype';
import { parseSafetensors, writeSafetensors, type TensorToWrite } from '../model/safetensors';
import { LoraLayout, peftName, TARGETS, type Target } from './lora';

export interface AdapterFiles {
  'adapter_config.json': Uint8Array;
  'adapter_model.safetensors': Uint8Array;
  /** HF Trainer's name for the training record (`log_history`): stored with a TPO iteration's
   *  adapter, in the same atomic write, so a run that stops before its metrics keeps its DPO log. */
  'trainer_state.json'?: Uint8Array;
}

/** A module trained whole beside the adapter (PEFT's modules_to_save): the score head. */
export interface SavedModule {
  name: 'score.weight';
  shape: [number, number];
  data: Float32Array;
}
const SCORE_TENSOR = 'base_model.model.score.weight';

export function adapterConfig(layout: LoraLayout, baseModel: string, scoreHead = false): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: scoreHead ? 'SEQ_CLS' : 'CAUSAL_LM',
    r: layout.lora.r,
    lora_alpha: layout.lora.alpha,
    lora_dropout: 0,
    target_modules: layout.lora.targets,
    bias: 'none',
    base_model_name_or_path: baseModel,
    fan_in_fan_out: false,
    use_rslora: false,
    use_dora: false,
    inference_mode: true,
    modules_to_save: scoreHead ? ['score'] : null,
    init_lora_weights: true,
    layers_to_transform: null,
    revision: null,
  };
}

/** `score`: a reward model's trained score head, saved whole (modules_to_save). */
export function saveAdapter(
  layout: LoraLayout,
  flat: Float32Array,
  baseModel: string,
  score?: SavedModule,
): AdapterFiles {
  const tensors: Record<string, TensorToWrite> = {};
  if (score) tensors[SCORE_TENSOR] = { dtype: 'F32', shape: score.shape, data: score.data };
  for (const m of layout.modules) {
    tensors[peftName(m.layer, m.target, 'A')] = {
      dtype: 'F32',
      shape: [layout.lora.r, m.inF],
      data: flat.slice(m.A.offset, m.A.offset + m.A.length),
    };
    tensors[peftName(m.layer, m.target, 'B')] = {
      dtype: 'F32',
      shape: [m.outF, layout.lora.r],
      data: flat.slice(m.B.offset, m.B.offset + m.B.length),
    };
  }
  return {
    'adapter_config.json': new TextEncoder().encode(
      JSON.stringify(adapterConfig(layout, baseModel, !!score), null, 2) + '\n',
    ),
    'adapter_model.safetensors': writeSafetensors(tensors, { format: 'pt' }),
  };
}

/** Parses an adapter for `cfg`; every shape is checked against the model. */
export function loadAdapter(
  cfg: ModelConfig,
  configBytes: Uint8Array,
  weightBytes: Uint8Array,
  opts: { baseModel?: string } = {},
): { layout: LoraLayout; values: Float32Array; baseModel: string; score?: SavedModule } {
  let ac: Record<string, unknown>;
  try {
    ac = JSON.parse(new TextDecoder().decode(configBytes));
  } catch (e) {
    throw new ModelConfigError(`adapter_config.json is not valid JSON (${(e as Error).message})`);
  }
  if (ac.peft_type !== 'LORA')
    throw new ModelConfigError(`adapter_config.json: peft_type ${JSON.stringify(ac.peft_type)} is not LORA`);
  if (ac.use_dora || ac.use_rslora)
    throw new ModelConfigError('adapter_config.json: DoRA and rsLoRA adapters are not supported');
  const r = ac.r,
    alpha = ac.lora_alpha;
  if (typeof r !== 'number' || typeof alpha !== 'number')
    throw new ModelConfigError('adapter_config.json: r and lora_alpha must be numbers');
  const tm = ac.target_modules;
  const targets = (typeof tm === 'string' ? [tm] : Array.isArray(tm) ? tm : []) as string[];
  const bad = targets.filter((t) => !TARGETS.includes(t as Target));
  if (!targets.length || bad.length)
    throw new ModelConfigError(
      `adapter_config.json: target_modules ${JSON.stringify(tm)} not supported`,
      `Supported: a list drawn from ${TARGETS.join(', ')}.`,
    );
  const baseModel = String(ac.base_model_name_or_path ?? '');
  const hubId = /^[\w.-]+\/[\w.-]+$/;
  if (opts.baseModel && hubId.test(opts.baseModel) && hubId.test(baseModel) && opts.baseModel !== baseModel) {
    throw new ModelConfigError(
      `this adapter was trained on ${baseModel}, not ${opts.baseModel}`,
      'Load it on the base model it was trained for.',
    );
  }
  const layout = new LoraLayout(cfg, { r, alpha, targets: targets as Target[] });
  const header = parseSafetensors(weightBytes, 'adapter_model.safetensors');
  const values = new Float32Array(layout.length);
  const seen = new Set<string>();
  for (const m of layout.modules) {
    for (const [which, view, shape] of [
      ['A', m.A, [r, m.inF]],
      ['B', m.B, [m.outF, r]],
    ] as const) {
      const name = peftName(m.layer, m.target, which);
      // PEFT may save with the adapter name inside ("…lora_A.default.weight"): accept both.
      const t = header.tensors.get(name) ?? header.tensors.get(name.replace(/\.weight$/, '.default.weight'));
      if (!t)
        throw new SafetensorsError(
          `adapter_model.safetensors: tensor "${name}" is missing`,
          'The adapter does not match adapter_config.json or this model.',
        );
      if (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1]) {
        throw new SafetensorsError(
          `adapter_model.safetensors: "${name}" has shape ${JSON.stringify(t.shape)}, ` +
            `this model needs ${JSON.stringify(shape)}`,
          'The adapter was trained for a different base model.',
        );
      }
      values.set(toF32(weightBytes.subarray(t.begin, t.end), t.dtype, name), view.offset);
      seen.add(t.name);
    }
  }
  const score = savedScoreHead(cfg, ac, header, weightBytes);
  if (score) seen.add(score.tensor);
  const extra = [...header.tensors.keys()].filter((n) => !seen.has(n));
  if (extra.length)
    throw new SafetensorsError(
      `adapter_model.safetensors: ${extra.length} tensor(s) not used by this model, e.g. "${extra[0]}"`,
      'The adapter was trained for a model with more layers or other modules.',
    );
  return { layout, values, baseModel, ...(score ? { score: score.module } : {}) };
}

/** The score head an adapter saves in modules_to_save (reward models), checked against `cfg`. */
function savedScoreHead(
  cfg: ModelConfig,
  ac: Record<string, unknown>,
  header: ReturnType<typeof parseSafetensors>,
  bytes: Uint8Array,
): { module: SavedModule; tensor: string } | undefined {
  const saves = Array.isArray(ac.modules_to_save) && ac.modules_to_save.includes('score');
  const t =
    header.tensors.get(SCORE_TENSOR) ?? header.tensors.get('base_model.model.score.modules_to_save.default.weight');
  if (!saves && !t) return undefined;
  const shape: [number, number] = [cfg.numLabels, cfg.hidden];
  if (cfg.head !== 'score')
    throw new ModelConfigError(
      "this adapter trains a reward model's score head, and the model has none",
      'Load it on the *ForSequenceClassification model it was trained for.',
    );
  if (!t)
    throw new SafetensorsError(
      `adapter_model.safetensors: modules_to_save names "score", and "${SCORE_TENSOR}" is missing`,
      'The adapter is incomplete: export it again.',
    );
  if (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1])
    throw new SafetensorsError(
      `adapter_model.safetensors: "${t.name}" has shape ${JSON.stringify(t.shape)}, ` +
        `this model needs ${JSON.stringify(shape)}`,
      'The adapter was trained for a different base model.',
    );
  const data = toF32(bytes.subarray(t.begin, t.end), t.dtype, t.name);
  return { module: { name: 'score.weight', shape, data }, tensor: t.name };
}
