/**
 * What the fused WebGPU paths (src/model/webgpu_decoder.ts, webgpu_prefill.ts) need of tfjs'
 * backend to record their own dispatches around its work: the GPU buffer behind a tensor, and the
 * work tfjs recorded but has not submitted, which must run before theirs.
 */
import * as tf from '@tensorflow/tfjs';
import type { TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

/** The GPU buffer behind a tensor on this backend, uploading it first if it still lives in JS. */
export function gpuBufferOf(backend: WebGPUBackend, t: TensorInfo): GPUBuffer {
  backend.uploadToGPU(t.dataId);
  return backend.tensorMap.get(t.dataId).resource as GPUBuffer;
}

/**
 * Forgets what reads of these tensors returned: tfjs-webgpu keeps a read's values on the tensor and
 * returns them ever after, so a buffer a fused path writes in place (the decoder's states) must drop
 * them, and the next read goes to the GPU again.
 */
export function dropReadValues(backend: WebGPUBackend, tensors: readonly TensorInfo[]): void {
  for (const t of tensors) {
    const data = backend.tensorMap.get(t.dataId);
    if (data?.resource != null) (data as { values: unknown }).values = null;   // (as tfjs does once a tensor is uploaded)
  }
}

/**
 * Submits work tfjs recorded but has not submitted. Skipped when tfjs holds no command encoder (the
 * private field is null then): nothing is pending, and a call saves an empty submission.
 */
export function flushTfjs(backend: WebGPUBackend): void {
  if ((backend as unknown as { commandEncoder: unknown }).commandEncoder === null) return;
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.submitQueue();
}

/** A float32 tensor of `shape` in a buffer from tfjs' pool, without values, for a fused path to write. */
export function emptyGpuTensor(backend: WebGPUBackend, shape: number[]): { info: TensorInfo; buffer: GPUBuffer } {
  const info = backend.makeTensorInfo(shape, 'float32');
  return { info, buffer: gpuBufferOf(backend, info) };
}

/**
 * A new float32 tensor of `shape` that `encoder` fills with a copy of the start of `source` (no tfjs
 * op: the fused paths hand states to the cache, or take them over, this way).
 */
export function copyIntoNewTensor(backend: WebGPUBackend, encoder: GPUCommandEncoder, source: GPUBuffer, shape: number[]): tf.Tensor {
  const { info, buffer } = emptyGpuTensor(backend, shape);
  encoder.copyBufferToBuffer(source, 0, buffer, 0, 4 * shape.reduce((a, b) => a * b, 1));
  return tf.engine().makeTensorFromTensorInfo(info);
}
