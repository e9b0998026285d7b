/** A tfjs tensor as a safetensors entry: float32 as F32, int32 as I32 (tfjs' only other numeric dtype). */
import type * as tf from '@tensorflow/tfjs';
import type { SafetensorsEntry } from './safetensors.js';

export async function tensorEntry(t: tf.Tensor): Promise<SafetensorsEntry> {
  if (t.dtype !== 'float32' && t.dtype !== 'int32') throw new Error(`cannot store a ${t.dtype} tensor in safetensors`);
  return { dtype: t.dtype === 'int32' ? 'I32' : 'F32', shape: t.shape, data: await t.data() as Float32Array | Int32Array };
}
