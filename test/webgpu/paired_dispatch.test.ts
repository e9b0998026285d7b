/**
 * Two kernels in one dispatch (custom-kernels/webgpu/decode/paired_dispatch.ts) on Dawn over lavapipe:
 * kernels that declare the same names (bindings, constants, workgroup memory, functions) and reduce
 * through barriers, each given its own share of the grid, against sums taken here; and what cannot be
 * paired, named.
 */
import { expect } from 'chai';
import { pairedSource, whyNotPaired } from '../../custom-kernels/webgpu/decode/paired_dispatch.js';
import { computePipeline, grid, GROUP_INDEX, type KernelSource } from '../../custom-kernels/webgpu/decode/pipeline.js';
import { makeRng, uniform } from '../support/random.js';
import { dispatchReading, rawDevice } from './raw_device.js';

const THREADS = 64;

/**
 * out[g] = scale * sum of src[g * THREADS ..] (a workgroup's THREADS values, through a tree in workgroup
 * memory), for `groups` workgroups; the same names in every such kernel.
 */
function rowSums(groups: number, scale: number): KernelSource {
  const code = `
@group(0) @binding(0) var<storage, read> src : array<f32>;
@group(0) @binding(1) var<storage, read_write> out : array<f32>;
const SCALE = ${scale.toFixed(1)};
var<workgroup> part : array<f32, ${THREADS}>;
/** The workgroup's sum (every thread calls it). */
fn total(t : u32, v : f32) -> f32 {
  part[t] = v;
  workgroupBarrier();
  for (var s = ${THREADS / 2}u; s > 0u; s >>= 1u) {
    if (t < s) { part[t] += part[t + s]; }
    workgroupBarrier();
  }
  return part[0];
}
@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(local_invocation_index) t : u32) {
  let g = ${GROUP_INDEX};
  let sum = total(t, src[g * ${THREADS}u + t]);
  if (t == 0u) { out[g] = SCALE * sum; }
}`;
  return { code, groups, threads: THREADS, bindings: 2, workgroupBytes: 4 * THREADS };
}

describe('two kernels in one dispatch', function () {
  this.timeout(60_000);
  let device: GPUDevice | null = null;
  before(async () => { device = await rawDevice([]); });

  it('runs each kernel on its own share of the grid, its names and bindings its own', async () => {
    const [first, second] = [rowSums(3, 2), rowSums(5, -1)];
    const rng = makeRng(7);
    const a = Float32Array.from(uniform(rng, 3 * THREADS, -1, 1));
    const b = Float32Array.from(uniform(rng, 5 * THREADS, -1, 1));
    const paired = pairedSource(device!, first, second);
    expect(paired.groups).to.equal(8);
    const [outA, outB] = await dispatchReading(device!, computePipeline(device!, paired.code), grid(paired.groups),
      [a, { output: 3 }, b, { output: 5 }], [1, 3]);
    const sums = (src: Float32Array, groups: number, scale: number) => Array.from({ length: groups }, (_, g) =>
      scale * src.subarray(g * THREADS, (g + 1) * THREADS).reduce((s, v) => s + v, 0));
    sums(a, 3, 2).forEach((v, g) => expect(outA[g], `first kernel, workgroup ${g}`).to.be.closeTo(v, 1e-4));
    sums(b, 5, -1).forEach((v, g) => expect(outB[g], `second kernel, workgroup ${g}`).to.be.closeTo(v, 1e-4));
  });

  it('names what keeps two kernels apart: workgroup sizes, bindings, workgroup memory, builtins it cannot pass', () => {
    const base = rowSums(1, 1);
    expect(whyNotPaired(device!, base, rowSums(1, 1))).to.equal(null);
    expect(whyNotPaired(device!, base, { ...base, threads: 32 })).to.equal('their workgroups differ (64 and 32 threads)');
    const limit = device!.limits.maxStorageBuffersPerShaderStage;
    expect(whyNotPaired(device!, base, { ...base, bindings: limit })).to.equal(`${limit + 2} storage bindings exceed the device's ${limit} per stage`);
    const bytes = device!.limits.maxComputeWorkgroupStorageSize;
    expect(whyNotPaired(device!, base, { ...base, workgroupBytes: bytes })).to.match(/bytes of workgroup memory exceed the device's/);
    expect(() => pairedSource(device!, base, { ...base, threads: 32 })).to.throw('pairedSource: the kernels cannot share a dispatch: their workgroups differ');
    const global = { ...base, code: base.code.replace('@builtin(local_invocation_index) t : u32', '@builtin(global_invocation_id) gid : vec3<u32>') };
    expect(() => pairedSource(device!, base, global)).to.throw(/parameter "@builtin\(global_invocation_id\) gid : vec3<u32>" is not one of the builtins/);
  });
});
