/** Hugging Face checkpoints into and out of a built model, by HF weight name. */
import * as tf from '@tensorflow/tfjs';
import { saveCheckpoint, type LoadCheckpointOptions } from '../io/checkpoint.js';
import { type CheckpointSource, openSource, parseJSON } from '../io/source.js';
import type { LayerVariable } from '../layers/layer_args.js';
import { MambaConfig } from '../config.js';
import { loadQuantizedCheckpoint, readQuantizationConfig, saveQuantizedCheckpoint } from '../quantization/checkpoint.js';
import type { QuantizableModel } from '../quantization/modules.js';
import { loadFloatCheckpoint, type ModelBuilder } from './streamed_load.js';

export type PretrainedDtype = 'float32' | 'int8' | 'int4';

export interface FromPretrainedOptions extends LoadCheckpointOptions {
  /**
   * 'int8' / 'int4' quantize the projections and the LM head (asymmetric, groups of 128) and
   * the embedding table (int8 rows) as each tensor is read: the float32 model is never built. A quantized
   * checkpoint loads as it was saved; by default a float one loads as float32.
   */
  dtype?: PretrainedDtype;
}

const DTYPE_BITS = { int8: 8, int4: 4 } as const;

export interface PretrainedModel {
  readonly config: MambaConfig;
  generationConfig: Record<string, unknown>;
  namedLayerVariables(): Map<string, LayerVariable>;
}

/**
 * Loads `source` (folder, http(s) base URL or Hub id) into the model `build(config, quantization)`
 * makes. A float checkpoint is read tensor by tensor into a model built as it will stay (packed from
 * the start for 'int8' / 'int4'), after its headers showed that it fits the backend (streamed_load.ts).
 */
export async function fromPretrained<M extends PretrainedModel & QuantizableModel>(
  source: string, build: ModelBuilder<M>, options: FromPretrainedOptions = {},
  ignoredKeys: string[] = [],
): Promise<M> {
  const { dtype, ...loadOptions } = options;
  if (dtype !== undefined && dtype !== 'float32' && !(dtype in DTYPE_BITS)) {
    throw new Error(`fromPretrained: dtype must be 'float32', 'int8' or 'int4', got '${String(dtype)}'`);
  }
  const opened = await openSource(source, loadOptions);
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
  const quantization = dtype === 'int8' || dtype === 'int4' ? { bits: DTYPE_BITS[dtype] } : null;
  return loadFloatCheckpoint(src, build, { quantization, ignoredKeys, onProgress: loadOptions.onProgress });
}

/** Writes HF-named tensors into the model's variables; every variable must get exactly one. */
export function assignWeights(model: PretrainedModel, weights: Map<string, tf.Tensor>): void {
  const variables = model.namedLayerVariables();
  const missing = [...variables.keys()].filter((name) => !weights.has(name));
  const unexpected = [...weights.keys()].filter((name) => !variables.has(name));
  if (missing.length > 0 || unexpected.length > 0) {
    throw new Error(`weights do not match the model: missing [${missing.join(', ')}], unexpected [${unexpected.join(', ')}]`);
  }
  for (const [name, variable] of variables) {
    const value = weights.get(name)!;
    if (!tf.util.arraysEqual(value.shape, variable.shape as number[])) {
      throw new Error(`${name}: the model has shape [${variable.shape}], the weights [${value.shape}]`);
    }
    variable.write(value);
  }
}

/**
 * config.json + model.safetensors (+ generation_config.json) that HF transformers loads; a
 * quantized model writes its packed weights and a quantization_config (src/quantization/checkpoint.ts).
 */
export async function savePretrained(model: PretrainedModel & QuantizableModel, dir: string): Promise<void> {
  const generationConfig = Object.keys(model.generationConfig).length > 0 ? model.generationConfig : undefined;
  if (model.quantization != null) {
    await saveQuantizedCheckpoint(model, dir, generationConfig);
    return;
  }
  const weights = new Map([...model.namedLayerVariables()].map(([name, v]) => [name, v.read() as tf.Tensor]));
  await saveCheckpoint(dir, model.config, weights, generationConfig ? { generationConfig } : {});
}
