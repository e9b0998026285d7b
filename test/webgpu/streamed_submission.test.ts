/**
 * StreamedSubmission (src/webgpu/streamed_submission.ts) on Dawn over lavapipe: a chain of dependent
 * dispatches split over several submissions, with copies recorded between them, runs in the order
 * recorded, whatever the submission size.
 */
import { expect } from 'chai';
import { StreamedSubmission } from '../../src/webgpu/streamed_submission.js';
import { rawDevice } from './raw_device.js';

describe('StreamedSubmission', function () {
  let device: GPUDevice;
  before(async function () {
    device = (await rawDevice([]))!;
  });
  after(() => device.destroy());

  /** a[i] = 2 a[i] + 1 for 4 floats: a chain of n such steps from a, with a copy of a into b after every `copyEvery`. */
  async function chain(n: number, every: number, copyEvery: number): Promise<{ a: Float32Array; b: Float32Array }> {
    const pipeline = device.createComputePipeline({
      layout: 'auto',
      compute: {
        module: device.createShaderModule({ code: `
@group(0) @binding(0) var<storage, read_write> a : array<f32>;
@compute @workgroup_size(4) fn main(@builtin(local_invocation_index) i : u32) { a[i] = 2.0 * a[i] + 1.0; }` }),
        entryPoint: 'main',
      },
    });
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const a = device.createBuffer({ size: 16, usage }), b = device.createBuffer({ size: 16, usage });
    device.queue.writeBuffer(a, 0, new Float32Array([0, 1, -1, 0.5]));
    const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: a } }] });
    const stream = new StreamedSubmission(device, every);
    for (let i = 1; i <= n; i++) {
      stream.dispatch({ pipeline, bindGroup, grid: [1, 1] });
      if (i % copyEvery === 0) stream.commands.copyBufferToBuffer(a, 0, b, 0, 16);
    }
    const read = device.createBuffer({ size: 32, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    stream.commands.copyBufferToBuffer(a, 0, read, 0, 16);
    stream.commands.copyBufferToBuffer(b, 0, read, 16, 16);
    stream.finish();
    await read.mapAsync(GPUMapMode.READ);
    const values = new Float32Array(read.getMappedRange().slice(0));
    [a, b, read].forEach((buffer) => buffer.destroy());
    return { a: values.subarray(0, 4), b: values.subarray(4) };
  }

  /** x after k steps of x -> 2x + 1. */
  const stepped = (x: number, k: number) => 2 ** k * (x + 1) - 1;

  for (const every of [1, 3, 7, 100]) {
    it(`runs 20 dependent dispatches submitted every ${every}, copies between them in their place`, async function () {
      const { a, b } = await chain(20, every, 6);
      expect([...a]).to.deep.equal([0, 1, -1, 0.5].map((x) => stepped(x, 20)));
      expect([...b], 'the copy after the 18th').to.deep.equal([0, 1, -1, 0.5].map((x) => stepped(x, 18)));
    });
  }
});
