/** Hugging Face checkpoints into and out of a built model, by HF weight name. */
import * as tf from '@tensorflow/tfjs';
import { readCheckpoint, saveCheckpoint, type LoadCheckpointOptions } from '../io/checkpoint.js';
import type { SafeTensorInfo } from '../io/safetensors.js';
import { type CheckpointSource, openSource, parseJSON } from '../io/source.js';
import { checkSourceOrOpened } from '../validate/entry_args.js';
import type { LayerVariable } from '../layers/layer_args.js';
import { MambaConfig } from '../config.js';
import { loadQuantizedCheckpoint, readQuantizationConfig, saveQuantizedCheckpoint } from '../quantization/checkpoint.js';
import { checkFloat16Backend, float16Modules, installFloat16 } from '../quantization/float16.js';
import { saveFloat16Checkpoint } from '../quantization/float16_checkpoint.js';
import { type QuantizableModel, quantizableModules } from '../quantization/modules.js';
import { quantize } from '../quantization/quantize.js';
import { packCheckpointTensor } from '../weights/float16_packing.js';

export type PretrainedDtype = 'float32' | 'float16' | 'int8' | 'int4';

export interface FromPretrainedOptions extends Omit<LoadCheckpointOptions, 'expected' | 'ignoredKeys'> {
  /**
   * 'int8' / 'int4' quantize the projections and the LM head (asymmetric, groups of 128) and
   * the embedding table (int8 rows) after loading. 'float16' (webgpu only) stores those matrices as
   * halves, converted tensor by tensor as they are read (F16 packed as stored; F32 / BF16 rounded).
   * A quantized checkpoint loads as it was saved; by default a float one (F16 and BF16 too) loads as float32.
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
 * Loads `source` (folder, http(s) base URL, Hub id or an opened source) and builds the model with `build(config)`,
 * then writes every checkpoint tensor into the variable of the same HF name.
 */
export async function fromPretrained<M extends PretrainedModel & QuantizableModel>(
  source: string | CheckpointSource, build: (config: MambaConfig) => M, options: FromPretrainedOptions = {},
  ignoredKeys: string[] = [],
): Promise<M> {
  checkSourceOrOpened('fromPretrained', source, options);
  const { dtype, ...loadOptions } = options;
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
  };
  const stored = readQuantizationConfig(configJSON, src.location);
  if (stored != null) {
    if (dtype !== undefined && dtype !== `int${stored.bits}`) {
      throw new Error(`fromPretrained: the checkpoint at ${src.location} is quantized to int${stored.bits}; `
        + `it loads as int${stored.bits} only, not as ${dtype}`);
    }
    return loadQuantizedCheckpoint(src, configJSON, build, ignoredKeys, loadOptions.onProgress);
  }
  // Built first, as HF builds the model before reading a state dict: the keys and shapes the file must
  // hold are the model's own, from its module tree.
  const model = build(MambaConfig.fromJSON(configJSON));
  try {
    const expected = new Map([...model.namedLayerVariables()].map(([name, v]) => [name, v.shape as number[]]));
    const checkpoint = await readCheckpoint(src, { ...loadOptions, expected, ignoredKeys });
    if (dtype === 'float16') for (const module of quantizableModules(model)) installFloat16(module, null);
    writeStored(model, checkpoint.tensors, src.location);
    model.generationConfig = checkpoint.generationConfig ?? {};
  } catch (e) {
    model.dispose();
    throw e;
  }
  if (dtype === 'int8' || dtype === 'int4') await quantize(model, { bits: DTYPE_BITS[dtype] });
  return model;
}

/**
 * Writes each variable from the checkpoint tensor of its name (readCheckpoint checked the names and
 * shapes against the model's), one tensor at a time; float16 words take their tensor packed.
 */
function writeStored(model: PretrainedModel & QuantizableModel, tensors: Map<string, SafeTensorInfo>, where: string): void {
  const halves = new Set(float16Modules(model).map((m) => `${m.path}.weight`));
  for (const [name, variable] of model.namedLayerVariables()) {
    const info = tensors.get(name)!;
    let values: Float32Array | Int32Array;
    try {
      values = halves.has(name) ? packCheckpointTensor(info, info.shape as [number, number]) : info.toFloat32();
    } catch (e) {
      throw new Error(`${name} at ${where}: ${(e as Error).message}`);
    }
    tf.tidy(() => { variable.write(tf.tensor(values, variable.shape as number[], variable.dtype)); });
  }
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
