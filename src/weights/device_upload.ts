/**
 * Hands weights' values to the device as soon as they are written. tfjs' GPU backends (webgpu, webgl)
 * keep a new tensor's values in JS until an op first reads it, so a model loaded tensor by tensor
 * would still hold every weight on the host when loading ends (a 2.8b model as float16: 5.5 GiB of
 * host memory on an H200, where the weights take 5.2). Uploading each one as it is written, then
 * waiting for WebGPU's queue so Dawn gives its staging memory back, keeps the host at about one
 * tensor. Backends without uploads (cpu, wasm) hold values in their own memory already.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerVariable } from '../layers/layer_args.js';

interface UploadingBackend {
  uploadToGPU?(dataId: object): void;
  device?: GPUDevice;
}

export async function uploadNow(variables: readonly LayerVariable[]): Promise<void> {
  const backend = tf.backend() as unknown as UploadingBackend;
  if (typeof backend.uploadToGPU !== 'function') return;
  for (const v of variables) backend.uploadToGPU(v.read().dataId);
  const queue = backend.device?.queue;
  if (queue != null) {
    // writeBuffer's copies wait in Dawn for the next submission; an empty one sends them.
    queue.submit([]);
    await queue.onSubmittedWorkDone();
  }
}
