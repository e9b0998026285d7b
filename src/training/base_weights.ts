/**
 * A cheap identity of the frozen weights a run trains beside (a LoRA run's base model), for the resume
 * fingerprint: adapters trained on one base checkpoint and resumed on another of the same architecture
 * (another fine-tune of mamba-130m) would go on silently on weights they were not trained with. Reading
 * every weight back from the device at each start would cost seconds and gigabytes for the bigger
 * models, so the identity is a sample:
 * - the name, shape and dtype of every frozen weight (another model, or the same one quantized or cast);
 * - every value of the small weights (at most WHOLE_MAX elements: the norm weights, D, conv1d's weight
 *   and bias, dt_proj's bias, A_log in the smaller models), which any full fine-tune moves, as Adam
 *   moves every weight that has a gradient;
 * - SAMPLE_SIZE values of each bigger one (the projections, the embeddings) at fixed pseudo-random
 *   positions, spread over rows and columns, which a fine-tune that trained only matrices changes too
 *   (a merged LoRA adapter adds a dense update to every entry of the matrices it targets).
 * What it cannot tell apart: bases equal in all of that that differ elsewhere in a matrix, as an edit of
 * a few rows (one token's embedding, a targeted model edit) that no sampled position falls in does.
 * A run with nothing frozen (full training) samples nothing: resume restores every weight it uses.
 */
import * as tf from '@tensorflow/tfjs';
import { Mulberry32 } from '../prng.js';
import type { TrainableModel } from './trainable.js';

/** Weights of up to this many elements are read whole (256 KiB of float32). */
const WHOLE_MAX = 1 << 16;
/** Values read from each bigger weight. */
const SAMPLE_SIZE = 1024;

export interface BaseWeightsSample {
  /** `name [shape] dtype` of every frozen weight, in the model's order. */
  layout: string[];
  /** The values read from each, as bytes, in the same order. */
  values: Uint8Array[];
}

/** The frozen weights of `model` (those under an HF name that it does not train), sampled as above. */
export async function sampleBaseWeights(model: TrainableModel): Promise<BaseWeightsSample> {
  const trained = new Set(model.trainableWeights);
  const frozen = [...model.namedLayerVariables()].filter(([, v]) => !trained.has(v));
  const tensors = frozen.map(([, v]) => v.read());
  const big = tensors.flatMap((t, i) => (t.size > WHOLE_MAX ? [i] : []));
  // Gathered on the device, so only the sampled values are read back.
  const samples = tf.tidy(() => big.map((i) => sampled(tensors[i])));
  try {
    const read = [...tensors];
    big.forEach((i, j) => { read[i] = samples[j]; });
    const values = await Promise.all(read.map((t) => t.data()));
    return {
      layout: frozen.map(([name, v]) => `${name} [${v.shape}] ${v.dtype}`),
      values: values.map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength)),
    };
  } finally {
    tf.dispose(samples);
  }
}

/** SAMPLE_SIZE entries of `t`, at positions that depend on its size alone (the same in every run). */
function sampled(t: tf.Tensor): tf.Tensor {
  const rng = new Mulberry32(t.size);
  const positions = Int32Array.from({ length: SAMPLE_SIZE }, () => Math.floor(rng.next() * t.size));
  return tf.gather(tf.reshape(t, [-1]), tf.tensor1d(positions, 'int32'));
}
