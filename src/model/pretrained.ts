/** Hugging Face checkpoints into and out of a built model, by HF weight name. */
import * as tf from '@tensorflow/tfjs';
import { saveCheckpoint, type LoadCheckpointOptions } from '../io/checkpoint.js';
import { type CheckpointSource, OPEN_SOURCE_OPTIONS, openSource, parseJSON } from '../io/source.js';
import { normalizeOptions, type OptionTable, type WithSnakeCase } from '../options/normalize_options.js';
import { checkSourceOrOpened } from '../validate/entry_args.js';
import type { LayerVariable } from '../layers/layer_args.js';
import type { MambaConfig } from '../config.js';
import { loadQuantizedCheckpoint, readQuantizationConfig, saveQuantizedCheckpoint } from '../quantization/checkpoint.js';
import { checkFloat16Backend, float16Modules } from '../quantization/float16.js';
import { saveFloat16Checkpoint } from '../quantization/float16_checkpoint.js';
import type { QuantizableModel } from '../quantization/modules.js';
import type { ModelBuilder } from '../quantization/weight_format.js';
import { loadFloatCheckpoint } from './streamed_load.js';

export type PretrainedDtype = 'float32' | 'float16' | 'int8' | 'int4';

export interface FromPretrainedOptions extends Omit<LoadCheckpointOptions, 'expected' | 'ignoredKeys'> {
  /**
   * 'int8' / 'int4' quantize the projections and the LM head (asymmetric, groups of 128) and
   * the embedding table (int8 rows) as each tensor is read; 'float16' (webgpu only) stores those
   * matrices as halves, converted tensor by tensor as they are read (F16 packed as stored, BF16 and F32
   * rounded to the nearest half). Either way the model is built so from the start: the float32 model
   * is never built. A quantized checkpoint loads as it was saved; by default a float one (F16 and BF16
   * too) loads as float32.
   */
  dtype?: PretrainedDtype;
}

const FROM_PRETRAINED_OPTIONS: OptionTable<FromPretrainedOptions> = { ...OPEN_SOURCE_OPTIONS, dtype: ['torch_dtype'] };

/** FromPretrainedOptions as users write them: camelCase or snake_case (`local_files_only`), `torch_dtype` for dtype. */
export type FromPretrainedOptionsInput = WithSnakeCase<FromPretrainedOptions> & { torch_dtype?: PretrainedDtype };

const DTYPE_BITS = { int8: 8, int4: 4 } as const;

export interface PretrainedModel {
  readonly config: MambaConfig;
  generationConfig: Record<string, unknown>;
  namedLayerVariables(): Map<string, LayerVariable>;
}

/**
 * Loads `source` (folder, http(s) base URL, Hub id or an opened source) into the model
 * `build(config, weights)` makes. A float checkpoint is read tensor by tensor into a model built as it
 * will stay (halves from the start for 'float16', packed codes for 'int8' / 'int4'), after its headers
 * showed that it fits the backend (streamed_load.ts).
 */
export async function fromPretrained<M extends PretrainedModel & QuantizableModel>(
  source: string | CheckpointSource, build: ModelBuilder<M>, options: FromPretrainedOptionsInput = {},
  ignoredKeys: string[] = [],
): Promise<M> {
  checkSourceOrOpened('fromPretrained', source, options);
  const { dtype, ...loadOptions } = normalizeOptions<FromPretrainedOptions>(options, FROM_PRETRAINED_OPTIONS, 'fromPretrained');
  if (dtype !== undefined && dtype !== 'float32' && dtype !== 'float16' && !(dtype in DTYPE_BITS)) {
    throw new Error(`fromPretrained: dtype must be 'float32', 'float16', 'int8' or 'int4', got '${String(dtype)}'`);
  }
  if (dtype === 'float16') checkFloat16Backend('fromPretrained');
  const opened = typeof source === 'string' ? await openSource(source, loadOptions) : source;
  const configBytes = await opened.read('config.json');
  const configJSON = parseJSON(configBytes, `config.json at ${opened.location}`) as Record<string, unknown>;
  // config.json is read once: the checkpoint loaders get these bytes back instead of a second download.
  const src: CheckpointSource = {
    location: opened.location,
    exists: (file) => opened.exists(file),
    read: (file, onProgress) => (file === 'config.json' ? Promise.resolve(configBytes) : opened.read(file, onProgress)),
    ...(opened.openRange == null ? {} : { openRange: opened.openRange.bind(opened) }),
  };
  const stored = readQuantizationConfig(configJSON, src.location);
  if (stored != null) {
    if (dtype !== undefined && dtype !== `int${stored.bits}`) {
      throw new Error(`fromPretrained: the checkpoint at ${src.location} is quantized to int${stored.bits}; `
        + `it loads as int${stored.bits} only, not as ${dtype}`);
    }
    return loadQuantizedCheckpoint(src, configJSON, build, ignoredKeys, loadOptions.onProgress);
  }
  const weights = dtype === 'float16' ? { dtype }
    : dtype === 'int8' || dtype === 'int4' ? { quantization: { bits: DTYPE_BITS[dtype] } } : {};
  return loadFloatCheckpoint(src, build, { weights, ignoredKeys, onProgress: loadOptions.onProgress });
}

/**
 * config.json + model.safetensors (+ generation_config.json) that HF transformers loads; a
 * quantized model writes its packed weights and a quantization_config (src/quantization/checkpoint.ts),
 * a float16 one F16 matrices (src/quantization/float16_checkpoint.ts).
 */
export async function savePretrained(model: PretrainedModel & QuantizableModel, dir: string): Promise<void> {
  const generationConfig = Object.keys(model.generationConfig).length > 0 ? model.generationConfig : undefined;
  if (model.quantization != null) {
    await saveQuantizedCheckpoint(model, dir, generationConfig);
    return;
  }
  if (float16Modules(model).length > 0) {
    await saveFloat16Checkpoint(model, dir, generationConfig);
    return;
  }
  const weights = new Map([...model.namedLayerVariables()].map(([name, v]) => [name, v.read() as tf.Tensor]));
  await saveCheckpoint(dir, model.config, weights, generationConfig ? { generationConfig } : {});
}
