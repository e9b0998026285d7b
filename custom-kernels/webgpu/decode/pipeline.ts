/**
 * What the fused decode kernels share. They run outside tfjs' program runner, recorded into one
 * compute pass per token with bind groups made once, so sizes are compiled in (a decoder serves
 * one model and one batch) and there are no uniforms to write per dispatch.
 */

export interface DecodeKernel {
  pipeline: GPUComputePipeline;
  /** Workgroups to dispatch, [x, y]. */
  grid: [number, number];
}

const MAX_GROUPS_X = 65535;
const cache = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/** A pipeline for `code` (entry point `entryPoint`, `main` unless said), made once per device and source. */
export function computePipeline(device: GPUDevice, code: string, entryPoint = 'main'): GPUComputePipeline {
  let byCode = cache.get(device);
  if (byCode == null) cache.set(device, byCode = new Map());
  const key = `${entryPoint}\n${code}`;
  let pipeline = byCode.get(key);
  if (pipeline == null) {
    pipeline = device.createComputePipeline({
      layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint },
    });
    byCode.set(key, pipeline);
  }
  return pipeline;
}

/** Whether `device` was created with the `subgroups` feature (absent from older WebGPU typings). */
export function hasSubgroups(device: GPUDevice): boolean {
  return device.features.has('subgroups' as GPUFeatureName);
}

/** 0 .. n - 1, for writing WGSL out a copy per index. */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** `count` workgroups laid out within the per-dimension limit; WGSL finds its index with `GROUP_INDEX`. */
export function grid(count: number): [number, number] {
  return [Math.min(count, MAX_GROUPS_X), Math.ceil(count / MAX_GROUPS_X)];
}

export const GROUP_INDEX = `(wg.y * ${MAX_GROUPS_X}u + wg.x)`;

/** A bind group over whole buffers (or the bindings given: a buffer's first `size` bytes), in binding order. */
export function bindBuffers(device: GPUDevice, pipeline: GPUComputePipeline, buffers: (GPUBuffer | GPUBufferBinding)[]): GPUBindGroup {
  return device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((b, binding) => ({ binding, resource: 'buffer' in b ? b : { buffer: b } })),
  });
}

/** Declarations of storage bindings in order: [name, element type, writable]. */
export function declareBindings(bindings: [string, string, boolean][]): string {
  return bindings.map(([name, type, writable], i) =>
    `@group(0) @binding(${i}) var<storage, ${writable ? 'read_write' : 'read'}> ${name} : array<${type}>;`).join('\n');
}

const CHANNEL_THREADS = 64;

/** The entry point of a kernel with one thread per (batch row, channel): its body sees `index` = b * dInner + c, `b` and `c`. */
export function perChannelMain(batch: number, dInner: number, body: string): string {
  return `
@compute @workgroup_size(${CHANNEL_THREADS})
fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) groups : vec3<u32>) {
  let index = gid.y * groups.x * ${CHANNEL_THREADS}u + gid.x;
  if (index >= ${batch * dInner}u) { return; }
  let b = index / ${dInner}u;
  let c = index % ${dInner}u;
  ${body}
}`;
}

/** The workgroups of a perChannelMain kernel. */
export function perChannelGrid(batch: number, dInner: number): [number, number] {
  return grid(Math.ceil((batch * dInner) / CHANNEL_THREADS));
}
