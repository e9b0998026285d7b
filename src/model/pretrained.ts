/** Hugging Face checkpoints into and out of a built model, by HF weight name. */
import * as tf from '@tensorflow/tfjs';
import { loadCheckpoint, saveCheckpoint, type LoadCheckpointOptions } from '../io/checkpoint.js';
import type { LayerVariable } from '../layers/layer_args.js';
import type { MambaConfig } from '../config.js';

export interface FromPretrainedOptions extends LoadCheckpointOptions {
  /** 'float32' (default); 'int8' / 'int4' quantize the projection weights after loading. */
  dtype?: 'float32' | 'int8' | 'int4';
}

export interface PretrainedModel {
  readonly config: MambaConfig;
  generationConfig: Record<string, unknown>;
  namedLayerVariables(): Map<string, LayerVariable>;
}

/**
 * Loads `source` (folder, http(s) base URL or Hub id) and builds the model with `build(config)`,
 * then writes every checkpoint tensor into the variable of the same HF name.
 */
export async function fromPretrained<M extends PretrainedModel>(
  source: string, build: (config: MambaConfig) => M, options: FromPretrainedOptions = {},
  ignoredKeys: string[] = [],
): Promise<M> {
  const { dtype = 'float32', ...loadOptions } = options;
  if (dtype !== 'float32') {
    throw new Error(`fromPretrained: dtype '${dtype}' needs weight quantization, which this build does not have yet`);
  }
  const checkpoint = await loadCheckpoint(source, loadOptions);
  try {
    const model = build(checkpoint.config);
    const weights = new Map([...checkpoint.weights].filter(([name]) => !ignoredKeys.includes(name)));
    assignWeights(model, weights);
    model.generationConfig = checkpoint.generationConfig ?? {};
    return model;
  } finally {
    tf.dispose([...checkpoint.weights.values()]);
  }
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

/** config.json + model.safetensors (+ generation_config.json) that HF transformers loads. */
export async function savePretrained(model: PretrainedModel, dir: string): Promise<void> {
  const weights = new Map([...model.namedLayerVariables()].map(([name, v]) => [name, v.read() as tf.Tensor]));
  const generationConfig = Object.keys(model.generationConfig).length > 0 ? model.generationConfig : undefined;
  await saveCheckpoint(dir, model.config, weights, generationConfig ? { generationConfig } : {});
}
