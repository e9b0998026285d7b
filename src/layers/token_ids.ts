/** Checks of what users pass to the models: errors name the argument and what is wrong with it. */
import * as tf from '@tensorflow/tfjs';

export function checkInputIds(inputIds: unknown, vocabSize: number, what = 'inputIds'): tf.Tensor2D {
  if (!(inputIds instanceof tf.Tensor)) {
    throw new TypeError(`${what} must be an int32 tf.Tensor of shape [batch, seq], got ${typeof inputIds}`);
  }
  if (inputIds.dtype !== 'int32') {
    throw new Error(`${what} must be int32 token ids, got dtype ${inputIds.dtype}`);
  }
  if (inputIds.rank !== 2) {
    throw new Error(`${what} must have shape [batch, seq], got rank ${inputIds.rank} shape [${inputIds.shape}]`);
  }
  if (inputIds.shape[0] === 0 || inputIds.shape[1] === 0) {
    throw new Error(`${what} is empty (shape [${inputIds.shape}]): need at least one token per row`);
  }
  if (idsAreOnHost()) checkIdRange(inputIds.dataSync(), vocabSize, what);
  return inputIds as tf.Tensor2D;
}

/**
 * Backends whose tensors live in host memory, where reading ids back costs nothing. On a GPU a
 * synchronous read would stall the queue (and tfjs-backend-webgpu cannot do one in Node), so there
 * the range is checked on the device (idsOutOfRangeToNaN) and by the async entry points (generate).
 */
const HOST_MEMORY_BACKENDS = new Set(['cpu', 'wasm', 'tensorflow']);

export function idsAreOnHost(): boolean {
  return HOST_MEMORY_BACKENDS.has(tf.getBackend());
}

export function checkIdRange(values: ArrayLike<number>, vocabSize: number, what = 'inputIds'): void {
  for (let i = 0; i < values.length; i++) {
    if (!(values[i] >= 0 && values[i] < vocabSize)) {
      throw new RangeError(`${what} holds id ${values[i]} at flat index ${i}, outside the vocabulary [0, ${vocabSize})`);
    }
  }
}

/** Embeddings [batch, seq, hidden] with NaN at positions whose id is out of range: never a plausible answer. */
export function idsOutOfRangeToNaN(embedded: tf.Tensor, ids: tf.Tensor, vocabSize: number): tf.Tensor {
  return tf.tidy(() => {
    const valid = tf.logicalAnd(tf.greaterEqual(ids, 0), tf.less(ids, vocabSize)).expandDims(-1);
    return tf.where(valid, embedded, tf.fill(embedded.shape, NaN));
  });
}

/** The attention mask as float32 [batch, seq] of 0/1. */
export function checkAttentionMask(mask: unknown, shape: number[]): tf.Tensor2D {
  if (!(mask instanceof tf.Tensor)) throw new TypeError(`attentionMask must be a tf.Tensor, got ${typeof mask}`);
  if (!tf.util.arraysEqual(mask.shape, shape)) {
    throw new Error(`attentionMask must have the shape of inputIds [${shape}], got [${mask.shape}]`);
  }
  if (mask.dtype !== 'int32' && mask.dtype !== 'float32' && mask.dtype !== 'bool') {
    throw new Error(`attentionMask must be int32, float32 or bool, got ${mask.dtype}`);
  }
  if (idsAreOnHost()) {
    const values = mask.dataSync();
    for (let i = 0; i < values.length; i++) {
      if (values[i] !== 0 && values[i] !== 1) {
        throw new RangeError(`attentionMask must hold only 0 and 1, got ${values[i]} at flat index ${i}`);
      }
    }
  }
  return tf.cast(mask, 'float32') as tf.Tensor2D;
}
