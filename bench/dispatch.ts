/**
 * Per-dispatch cost on a WebGPU device: tfjs ops against raw dispatches recorded in one pass, and the
 * read-back latency; what bounds token-by-token decoding. Run like bench/gpu.ts; writes $OUT/dispatch.md.
 */
import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { setUpWebGPU } from './routines/webgpu_setup.js';

const out = process.env.OUT ?? '.';
const rows: string[] = [];
const log = (line: string) => { console.log(line); rows.push(line); };

await setUpWebGPU();
const backend = tf.backend() as unknown as { device: GPUDevice };
const device = backend.device;

async function tfjsChain(n: number): Promise<void> {
  const x = tf.ones([1, 768]);
  await x.data();
  let y = x;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) { const z = tf.add(y, 1); if (y !== x) y.dispose(); y = z; }
  const t1 = performance.now();
  await y.data();
  const t2 = performance.now();
  log(`| tfjs add chain x${n}, submit batch ${tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE')} | enqueue ${((t1 - t0) * 1e3 / n).toFixed(1)} us/op | total ${((t2 - t0) * 1e3 / n).toFixed(1)} us/op |`);
  tf.dispose([x, y]);
}

const shader = device.createShaderModule({ code: `
@group(0) @binding(0) var<storage, read_write> buf: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < arrayLength(&buf)) { buf[g.x] = buf[g.x] + 1.0; }
}` });
const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: shader, entryPoint: 'main' } });
const buf = device.createBuffer({ size: 768 * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] });
const staging = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });

async function rawChain(n: number, passes: number, freshBindGroups: boolean): Promise<void> {
  const t0 = performance.now();
  const enc = device.createCommandEncoder();
  const perPass = n / passes;
  for (let p = 0; p < passes; p++) {
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    for (let i = 0; i < perPass; i++) {
      pass.setBindGroup(0, freshBindGroups ? device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] }) : bindGroup);
      pass.dispatchWorkgroups(12);
    }
    pass.end();
  }
  enc.copyBufferToBuffer(buf, 0, staging, 0, 4);
  device.queue.submit([enc.finish()]);
  const t1 = performance.now();
  await staging.mapAsync(GPUMapMode.READ);
  staging.unmap();
  const t2 = performance.now();
  log(`| raw x${n}, ${passes} pass(es)${freshBindGroups ? ', fresh bind groups' : ''} | encode ${((t1 - t0) * 1e3 / n).toFixed(1)} us/op | total ${((t2 - t0) * 1e3 / n).toFixed(1)} us/op |`);
}

async function readbackLatency(n: number): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(12);
    pass.end();
    enc.copyBufferToBuffer(buf, 0, staging, 0, 4);
    device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    staging.unmap();
  }
  log(`| submit + 1 dispatch + map 4 bytes, x${n} | ${((performance.now() - t0) * 1e3 / n).toFixed(1)} us each | |`);
}

for (const n of [200, 2000]) await rawChain(n, 1, false);
await rawChain(2000, 1, false);
await rawChain(2000, 100, false);
await rawChain(2000, 1, true);
await readbackLatency(10);
await readbackLatency(100);
await tfjsChain(200);
await tfjsChain(2000);
tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', 1000);
await tfjsChain(2000);
await writeFile(`${out}/dispatch.md`, `${rows.join('\n')}\n`);
