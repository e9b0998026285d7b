/**
 * WebGPU devices of the tests' own (Dawn over lavapipe), with or without optional features, and one
 * dispatch of a kernel over plain buffers: the fused kernels are tested outside tfjs as they run.
 */
import { noteAdapterInfo } from '../../custom-kernels/webgpu/gemm/subgroup_matrix_gemm.js';
import { initWebGPU } from '../../src/webgpu/init.js';

/** A device with the adapter's limits and those of `features` it offers; null where it lacks one. */
export async function rawDevice(features: string[]): Promise<GPUDevice | null> {
  await initWebGPU();   // installs navigator.gpu in Node
  const adapter = await navigator.gpu.requestAdapter();
  if (adapter == null || !features.every((f) => adapter.features.has(f))) return null;
  const requiredLimits: Record<string, number> = {};
  for (const name of ['maxStorageBuffersPerShaderStage', 'maxStorageBufferBindingSize', 'maxBufferSize',
    'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX'] as const) {
    requiredLimits[name] = adapter.limits[name];
  }
  const device = await adapter.requestDevice({ requiredFeatures: features as GPUFeatureName[], requiredLimits });
  noteAdapterInfo(device, adapter.info);
  return device;
}

/** A binding: the data to upload, or the float32 length of the output (zero-filled). */
export type Binding = Float32Array | Int32Array | { output: number };

/**
 * Uploads the bindings, dispatches `grid` workgroups of `pipeline` once (each binding sized to its
 * data exactly), and reads the output binding back.
 */
export async function dispatchOnce(device: GPUDevice, pipeline: GPUComputePipeline, grid: [number, number], bindings: Binding[]): Promise<Float32Array> {
  const [result] = await dispatchReading(device, pipeline, grid, bindings, [bindings.findIndex((b) => 'output' in b)]);
  return result;
}

/** dispatchOnce, reading back the bindings at `read` (an input the kernel updates in place too). */
export async function dispatchReading(device: GPUDevice, pipeline: GPUComputePipeline, grid: [number, number], bindings: Binding[],
  read: number[]): Promise<Float32Array[]> {
  device.pushErrorScope('validation');
  const buffers = bindings.map((b) => {
    const bytes = 'output' in b ? b.output * 4 : b.byteLength;
    const buffer = device.createBuffer({ size: Math.max(4, bytes), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    if (!('output' in b) && bytes > 0) device.queue.writeBuffer(buffer, 0, b);
    return { buffer, bytes: Math.max(4, bytes) };
  });
  const readables = read.map((i) => device.createBuffer({ size: buffers[i].bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }));
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map(({ buffer, bytes }, binding) => ({ binding, resource: { buffer, size: bytes } })),
  }));
  pass.dispatchWorkgroups(grid[0], grid[1]);
  pass.end();
  read.forEach((i, n) => encoder.copyBufferToBuffer(buffers[i].buffer, 0, readables[n], 0, buffers[i].bytes));
  device.queue.submit([encoder.finish()]);
  const error = await device.popErrorScope();
  if (error != null) throw new Error(`WebGPU validation: ${error.message}`);
  const results = await Promise.all(readables.map(async (readable) => {
    await readable.mapAsync(GPUMapMode.READ);
    const result = new Float32Array(readable.getMappedRange().slice(0));
    readable.destroy();
    return result;
  }));
  for (const { buffer } of buffers) buffer.destroy();
  return results;
}

/** Runs `make` (which creates pipelines) and fails with WebGPU's message if a shader does not compile. */
export async function compiled<T>(device: GPUDevice, make: () => T): Promise<T> {
  device.pushErrorScope('validation');
  const made = make();
  const error = await device.popErrorScope();
  if (error != null) throw new Error(`WebGPU validation: ${error.message}`);
  return made;
}
