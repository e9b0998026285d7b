/**
 * tfjs-backend-webgpu 4.22 uploads every tensor made from JS values (scalars, ids, zeros from
 * tf.zeros, the optimizers' constants) through a mapped staging buffer that it creates and destroys
 * each time; on NVIDIA's driver that buffer creation costs hundreds of microseconds, and a training
 * step makes a few thousand of them (Adam's scalars). Writing through `queue.writeBuffer` instead
 * is what the backend already does for its uniforms: Dawn stages the bytes in its own ring.
 * Ordering holds: the write lands before any command buffer submitted after it, and a buffer taken
 * from the pool is never referenced by the command encoder still being recorded.
 */
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

type BackendClass = typeof WebGPUBackend;

interface TensorData {
  values: ArrayLike<number> | null;
  dtype: string;
  shape: number[];
  resource?: unknown;
}

export function withQueueUploads(Base: BackendClass): BackendClass {
  return class QueueUploadBackend extends Base {
    override uploadToGPU(dataId: object): void {
      const data = this.tensorMap.get(dataId) as unknown as TensorData;
      if (data.resource != null || data.values == null || !['float32', 'int32', 'bool'].includes(data.dtype)) {
        super.uploadToGPU(dataId);
        return;
      }
      const size = 4 * data.shape.reduce((a, b) => a * b, 1);
      const buffer = this.bufferManager.acquireBuffer(
        size, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
      const words = data.dtype === 'float32'
        ? (data.values instanceof Float32Array ? data.values : Float32Array.from(data.values))
        : (data.values instanceof Int32Array ? data.values : Int32Array.from(data.values));
      if (size > 0) this.queue.writeBuffer(buffer, 0, words.buffer, words.byteOffset, size);
      data.values = null;
      data.resource = buffer;
    }
  } as BackendClass;
}
