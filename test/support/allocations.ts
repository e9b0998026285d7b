/**
 * Every backend buffer tfjs allocates while a body runs, and the most bytes those buffers held at
 * once: tfjs' own counters count a view (a reshape) as new bytes and tf.profile samples memory only
 * when a kernel runs, so this watches the engine register and free buffers (test-only instrumentation).
 */
import * as tf from '@tensorflow/tfjs';

export interface AllocationRecord {
  /** dtype and shape of every buffer created, in order. */
  buffers: { dtype: tf.DataType; shape: number[] }[];
  /** Bytes of the buffers created during the body that were alive at once, at most. */
  peakBytes: number;
  /** Bytes of those still alive when the body ended. */
  endBytes: number;
}

interface EngineInternals {
  state: { tensorInfo: WeakMap<object, unknown> };
  trackTensor(t: tf.Tensor, backend: unknown): void;
  removeDataId(dataId: object, backend: unknown): void;
}

export async function watchAllocations<T>(body: () => Promise<T>): Promise<{ result: T; record: AllocationRecord }> {
  const engine = tf.engine() as unknown as EngineInternals;
  const { trackTensor, removeDataId } = engine;
  const record: AllocationRecord = { buffers: [], peakBytes: 0, endBytes: 0 };
  const live = new Map<object, number>();
  let bytes = 0;
  engine.trackTensor = function (this: EngineInternals, t: tf.Tensor, backend: unknown) {
    const fresh = !this.state.tensorInfo.has(t.dataId);
    trackTensor.call(this, t, backend);
    if (fresh) {
      const size = t.size * (t.dtype === 'string' ? 0 : tf.util.bytesPerElement(t.dtype));
      record.buffers.push({ dtype: t.dtype, shape: [...t.shape] });
      live.set(t.dataId, size);
      bytes += size;
      record.peakBytes = Math.max(record.peakBytes, bytes);
    }
  };
  engine.removeDataId = function (this: EngineInternals, dataId: object, backend: unknown) {
    removeDataId.call(this, dataId, backend);
    if (live.has(dataId) && !this.state.tensorInfo.has(dataId)) {
      bytes -= live.get(dataId)!;
      live.delete(dataId);
    }
  };
  try {
    const result = await body();
    record.endBytes = bytes;
    return { result, record };
  } finally {
    engine.trackTensor = trackTensor;
    engine.removeDataId = removeDataId;
  }
}
