/**
 * Random token ids made on the host: the model's id check reads them synchronously, which on a
 * GPU backend would otherwise be a device readback (and one that tfjs-backend-webgpu cannot do in Node).
 */
import * as tf from '@tensorflow/tfjs';

export function randomIds(batch: number, seqLen: number, vocabSize: number): tf.Tensor2D {
  const ids = new Int32Array(batch * seqLen);
  for (let i = 0; i < ids.length; i++) ids[i] = Math.floor(Math.random() * vocabSize);
  return tf.tensor2d(ids, [batch, seqLen], 'int32');
}
