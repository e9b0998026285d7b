/**
 * A float checkpoint into a model tensor by tensor: the headers are read first and the model is
 * refused if it cannot fit the backend (memory_budget.ts); then it is built as it will stay (float16
 * halves or packed codes from the start when asked), and each tensor is read by its byte range,
 * converted (packed as halves, quantized, or widened to float32) and written, then dropped before the
 * next. Peak memory is the model as stored, one tensor and its read buffer; the float32 model is
 * never held.
 */
import * as tf from '@tensorflow/tfjs';
import { MambaConfig } from '../config.js';
import { openCheckpoint, type CheckpointReader } from '../io/checkpoint.js';
import type { CheckpointSource, ProgressCallback } from '../io/checkpoint_source.js';
import { floatStateDict } from '../quantization/float_state_dict.js';
import type { QuantizableModel } from '../quantization/modules.js';
import { matrixStorage, type ModelBuilder, resolveWeightFormat, type WeightFormatArgs } from '../quantization/weight_format.js';
import { packCheckpointTensor } from '../weights/float16_packing.js';
import { uploadNow } from '../weights/device_upload.js';
import { quantizeMatrix } from '../weights/packing.js';
import { checkFitsBackend, elsewhereAdvice, plannedWeights } from '../weights/memory_budget.js';

export interface StreamedLoadOptions {
  /** What the matrices are built as: float32 ({}), float16 or quantized. */
  weights: WeightFormatArgs;
  /** Keys the file may hold that are left out (an untied head under a backbone-only model). */
  ignoredKeys: string[];
  onProgress?: ProgressCallback;
}

export async function loadFloatCheckpoint<M extends QuantizableModel & { generationConfig: Record<string, unknown> }>(
  src: CheckpointSource, build: ModelBuilder<M>, options: StreamedLoadOptions,
): Promise<M> {
  const checkpoint = await openCheckpoint(src, { ignoredKeys: options.ignoredKeys, onProgress: options.onProgress });
  try {
    const format = resolveWeightFormat(options.weights, 'fromPretrained');
    const roles = format.float16 || format.quantization != null ? matrixRoles(checkpoint.config, build, options.weights)
      : new Map<string, 'linear' | 'embedding'>();
    const planned = plannedWeights([...checkpoint.tensors].map(([name, entry]) => [name, entry.shape]), (name, shape) => {
      const role = roles.get(name);
      return role == null ? null : matrixStorage(format, role, shape[1]);
    });
    const as = format.quantization != null ? ` as int${format.quantization.bits}` : format.float16 ? ' as float16' : '';
    checkFitsBackend(planned, `the model at ${src.location}${as}`, tf.getBackend(), smallerAdvice(format.quantization?.bits));
    const model = build(checkpoint.config, options.weights);
    try {
      await fill(model, checkpoint);
      model.generationConfig = checkpoint.generationConfig ?? {};
    } catch (e) {
      model.dispose();
      throw e;
    }
    return model;
  } finally {
    await checkpoint.close();
  }
}

/** Reads every tensor in file order into its place; each array is dropped (and on a GPU uploaded) before the next is read. */
async function fill(model: QuantizableModel, checkpoint: CheckpointReader): Promise<void> {
  const targets = floatStateDict(model);
  checkpoint.check(new Map([...targets].map(([name, t]) => [name, t.shape])));
  for (const name of checkpoint.tensors.keys()) {
    const target = targets.get(name)!;
    if (target.kind === 'half') {
      target.weight.write(await checkpoint.readWith(name, (stored) => packCheckpointTensor(stored, target.shape)));
      await uploadNow(target.weight.stored().map(([, v]) => v));
      continue;
    }
    const values = await checkpoint.readFloat32(name);
    if (target.kind === 'packed') {
      let matrix;
      try {
        matrix = quantizeMatrix(values, target.shape, target.weight.layout);
      } catch (e) {
        throw new Error(`${name}: ${(e as Error).message}`);
      }
      target.weight.write(matrix);
      await uploadNow(target.weight.stored().map(([, v]) => v));
    } else {
      tf.tidy(() => { target.variable.write(tf.tensor(values, target.shape, 'float32')); });
      await uploadNow([target.variable]);
    }
  }
}

/**
 * The HF names of the matrices a model of `config` keeps as halves or codes, with their roles, from
 * the module tree of the same model built at a few elements a weight: the tree's names and roles do
 * not depend on the sizes, and the real one must not be built before the budget says it fits.
 */
function matrixRoles<M extends QuantizableModel>(
  config: MambaConfig, build: ModelBuilder<M>, weights: WeightFormatArgs,
): Map<string, 'linear' | 'embedding'> {
  const small = MambaConfig.fromJSON({
    ...config.toJSON(), hidden_size: 4, intermediate_size: 8, state_size: 2, time_step_rank: 1, vocab_size: 4, conv_kernel: 2,
  });
  const skeleton = build(small, weights);
  try {
    const roles = new Map<string, 'linear' | 'embedding'>();
    for (const [name, target] of floatStateDict(skeleton)) if (target.kind !== 'float') roles.set(name, target.role);
    return roles;
  } finally {
    skeleton.dispose();
  }
}

/**
 * What to try where the model does not fit as asked, when it was asked quantized (checkFitsBackend's
 * own advice, to load it quantized, is for float weights): int4 after int8, else another backend or model.
 */
function smallerAdvice(bits: number | undefined): string | undefined {
  if (bits == null) return undefined;
  const wasm = tf.getBackend() === 'wasm';
  if (bits > 4) return `Load it as int4 (dtype 'int4')${wasm ? ', on webgpu,' : ''} or a smaller model`;
  return `It is int4 already: ${elsewhereAdvice()}`;
}
