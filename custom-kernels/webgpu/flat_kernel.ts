/**
 * A FlatProgram (program.ts) run outside tfjs' program runner, as the fused prefill
 * (src/model/webgpu_prefill.ts) records it: the program's own WGSL (getUserCode) with its inputs,
 * side outputs, `result` and uniforms declared here, a pipeline made once per device and shader,
 * and a bind group made once over whole buffers with a uniform buffer holding the program's values.
 * So the conv and the scan run the same shader whether tfjs dispatches them or the fused path does.
 */
import { computePipeline, declareBindings, grid } from './decode/pipeline.js';
import type { FlatProgram } from './program.js';

export interface FlatKernel {
  pipeline: GPUComputePipeline;
  /** Workgroups, [x, y]. */
  grid: [number, number];
  /** The program's input and side output names, in binding order (`result` follows, then the uniforms). */
  inputs: string[];
  /** The uniforms' values, int32. */
  uniforms: Int32Array;
}

/** Storage buffers the program binds: its inputs, side outputs and result. */
export function flatStorageBindings(program: FlatProgram): number {
  return program.variableNames.length + program.sideOutputs.length + 1;
}

/** The program's pipeline (the same WGSL tfjs would run, without tfjs' shape uniforms, which no FlatProgram reads). */
export function flatKernel(device: GPUDevice, program: FlatProgram): FlatKernel {
  const bindings = flatStorageBindings(program), limit = device.limits.maxStorageBuffersPerShaderStage;
  // past the limit the pipeline is invalid and Dawn only logs it: the dispatches would compute nothing
  if (bindings > limit) throw new Error(`flatKernel: ${program.shaderKey} binds ${bindings} storage buffers, the device ${limit} per stage`);
  const [threads] = program.workgroupSize;
  const inputs = [...program.variableNames, ...program.sideOutputs];
  const written = new Set([...program.sideOutputs, 'result']);
  const code = `
struct Uniforms { ${program.uniforms} };
${declareBindings([...inputs, 'result'].map((name): [string, string, boolean] => [name, 'f32', written.has(name)]))}
@group(0) @binding(${inputs.length + 1}) var<uniform> uniforms : Uniforms;
${program.getUserCode()}

@compute @workgroup_size(${threads})
fn flatStart(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) groups : vec3<u32>) {
  main(i32(gid.y * groups.x * ${threads}u + gid.x));
}`;
  return {
    pipeline: computePipeline(device, code, 'flatStart'),
    grid: grid(program.dispatch[0]),
    inputs,
    uniforms: Int32Array.from(program.uniformValues),
  };
}

/** A uniform buffer holding the kernel's values: the caller destroys it with the last bind group over it. */
export function flatUniforms(device: GPUDevice, kernel: FlatKernel): GPUBuffer {
  const buffer = device.createBuffer({
    size: Math.ceil(kernel.uniforms.byteLength / 16) * 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(buffer, 0, kernel.uniforms);
  return buffer;
}

/** A bind group for `kernel` over `buffers` (each input and side output by name, and `result`) and its uniforms (flatUniforms). */
export function flatBindGroup(device: GPUDevice, kernel: FlatKernel, buffers: Record<string, GPUBuffer>, uniforms: GPUBuffer): GPUBindGroup {
  const names = [...kernel.inputs, 'result'];
  const missing = names.filter((name) => buffers[name] == null);
  if (missing.length > 0) throw new Error(`flatBindGroup: no buffer for ${missing.join(', ')}`);
  return device.createBindGroup({
    layout: kernel.pipeline.getBindGroupLayout(0),
    entries: [...names.map((name, binding) => ({ binding, resource: { buffer: buffers[name] } })),
      { binding: names.length, resource: { buffer: uniforms } }],
  });
}
