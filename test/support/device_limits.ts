/**
 * A webgpu device that reports fewer storage buffers per shader stage than it has, for the paths
 * that devices with WebGPU's default 8 take (SwiftShader, some browsers); lavapipe offers 16. The
 * kernels still run on the real device: only what the code reads of `device.limits` changes.
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

export async function withStorageBuffersPerStage<T>(count: number, run: () => Promise<T>): Promise<T> {
  const device = (tf.backend() as WebGPUBackend).device;
  const own = Object.getOwnPropertyDescriptor(device, 'limits');
  const limits: Record<string, number> = {};
  for (const key in device.limits) limits[key] = (device.limits as unknown as Record<string, number>)[key];
  Object.defineProperty(device, 'limits', { value: { ...limits, maxStorageBuffersPerShaderStage: count }, configurable: true });
  try {
    return await run();
  } finally {
    if (own != null) Object.defineProperty(device, 'limits', own);
    else delete (device as unknown as { limits?: unknown }).limits;
  }
}
