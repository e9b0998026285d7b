/**
 * The GPUBuffers the webgpu backend's device creates while a body runs, and which of them are left
 * afterwards neither destroyed nor in tfjs' buffer pool (where tensors' buffers go to be reused):
 * those are leaks. Test-only instrumentation: it wraps the device's createBuffer for the body's duration.
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

export interface GpuBufferRecord {
  created: number;
  /** Created and destroyed during the body: what the body made for itself rather than took from tfjs' pool. */
  destroyed: number;
  /** Created during the body, not destroyed and not in tfjs' pool afterwards. */
  leaked: { size: number; usage: number }[];
}

interface PoolInternals {
  freeBuffers: Map<string, GPUBuffer[]>;
  usedBuffers: Map<string, GPUBuffer[]>;
}

export async function watchGpuBuffers<T>(body: () => Promise<T>): Promise<{ result: T; record: GpuBufferRecord }> {
  const backend = tf.backend() as WebGPUBackend;
  const device = backend.device as GPUDevice & { createBuffer: GPUDevice['createBuffer'] };
  const created: GPUBuffer[] = [];
  const destroyed = new Set<GPUBuffer>();
  const original = device.createBuffer;
  const own = Object.prototype.hasOwnProperty.call(device, 'createBuffer');
  device.createBuffer = function (descriptor: GPUBufferDescriptor): GPUBuffer {
    const buffer = original.call(device, descriptor);
    const destroy = buffer.destroy;
    buffer.destroy = function (): undefined {
      destroyed.add(buffer);
      return destroy.call(buffer);
    };
    created.push(buffer);
    return buffer;
  };
  let result: T;
  try {
    result = await body();
  } finally {
    if (own) device.createBuffer = original;
    else delete (device as Partial<GPUDevice>).createBuffer;   // the prototype's again
  }
  const pool = backend.bufferManager as unknown as PoolInternals;
  const pooled = new Set([...pool.freeBuffers.values(), ...pool.usedBuffers.values()].flat());
  const leaked = created.filter((b) => !destroyed.has(b) && !pooled.has(b)).map((b) => ({ size: b.size, usage: b.usage }));
  return { result, record: { created: created.length, destroyed: created.filter((b) => destroyed.has(b)).length, leaked } };
}
