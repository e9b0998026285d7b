/**
 * Does reading a matrix ahead into the GPU's L2 speed up its decode matvec, and can the read hide in a
 * latency-bound dispatch? A layer's x_proj and state step keep the memory nearly idle for about 11 us
 * (H100, 2.8b, batch 1), while out_proj, next in the same layer, streams 52 MB (float32) that the L2
 * (50 MB on an H100 or H200) could partly hold. Times, with GPU timestamps a pass, medians of REPEAT:
 *   cold     out_proj's matvec after a flush of the L2 (a 256 MB read)
 *   warm     out_proj again right after itself
 *   ahead F  after a flush, a read of out_proj's first F of its bytes in a pass of its own, then the matvec
 *   chain    a stand-in for the latency-bound dispatch: 80 workgroups each through a dependent chain
 *   chain+F  the same dispatch with extra workgroups reading F of the matrix meanwhile, then the matvec
 * for float32 and float16 weights at the 2.8b out_proj's shape (2560 x 5120). Writes $OUT/prefetch.md.
 */
import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { matvecKernel } from '../custom-kernels/webgpu/decode/matvec.js';
import { bindBuffers, computePipeline } from '../custom-kernels/webgpu/decode/pipeline.js';
import { PassTimer } from '../src/webgpu/pass_timer.js';
import { type RecordedDispatch, recordDispatch } from '../src/webgpu/streamed_submission.js';
import { randomBuffer, storage } from './routines/device_buffers.js';
import { median } from './routines/timing.js';
import { setUpWebGPU } from './routines/webgpu_setup.js';

const REPEAT = Number(process.env.PREFETCH_REPEAT ?? 30);
const small = process.env.BENCH_SHAPE === 'small';
const [N, K] = small ? [64, 256] : [2560, 5120];
const FLUSH_BYTES = small ? 1 << 20 : 256 << 20;
const CHAIN_GROUPS = 80;
const CHAIN_STEPS = Number(process.env.PREFETCH_CHAIN ?? 3000);

await setUpWebGPU();
const device = (tf.backend() as unknown as WebGPUBackend).device;
const lines: string[] = [];
const log = (line: string) => { console.log(line); lines.push(line); };

/**
 * Reads words [0, words) of `m` as vec4s, spread over `groups` workgroups of 256 starting at workgroup
 * `first` (the ones before it, where `chain`, run a dependent chain of CHAIN_STEPS instead).
 */
function readerCode(words: number, groups: number, first: number, chain: boolean): string {
  const vecs = Math.floor(words / 4);
  return `
@group(0) @binding(0) var<storage, read> m : array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> never : array<f32>;
@group(0) @binding(2) var<storage, read_write> sink : array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(local_invocation_index) t : u32) {
  var acc = 0.0;
  if (wg.x < ${first}u) {
    ${chain ? `acc = f32(t);
    for (var i = 0u; i < ${CHAIN_STEPS}u; i++) { acc = fma(acc, 0.999, 0.5); }` : ''}
  } else {
    let threads = ${groups * 256}u;
    for (var i = (wg.x - ${first}u) * 256u + t; i < ${vecs}u; i += threads) {
      let v = m[i];
      acc += v.x + v.y + v.z + v.w;
    }
  }
  if (acc == never[0]) { sink[wg.x * 256u + t] = acc; }
}`;
}

const never = storage(device, 4);
device.queue.writeBuffer(never, 0, new Float32Array([Number.NaN]));
const sink = storage(device, 4 * 256 * 4096);
const flushBuffer = randomBuffer(device, FLUSH_BYTES / 4, 'float32');
const flushCode = readerCode(FLUSH_BYTES / 4, 2048, 0, false);
const flushPipe = computePipeline(device, flushCode);

type Pass = (pass: GPUComputePassEncoder) => void;
const dispatch = (d: RecordedDispatch): Pass => (p) => recordDispatch(p, d);
/** A reader pipeline's dispatch of `groups` workgroups over `m`. */
const reader = (pipeline: GPUComputePipeline, m: GPUBuffer, groups: number): Pass =>
  dispatch({ pipeline, bindGroup: bindBuffers(device, pipeline, [m, never, sink]), grid: [groups, 1] });
const flush = reader(flushPipe, flushBuffer, 2048);

/** Median us of each named pass over REPEAT submissions of `passes` (unnamed ones untimed). */
async function time(passes: [string | null, Pass][]): Promise<Record<string, number>> {
  const samples: Record<string, number[]> = {};
  for (let r = 0; r < REPEAT; r++) {
    const named = passes.filter(([n]) => n != null).length;
    const timer = new PassTimer(device, named);
    const encoder = device.createCommandEncoder();
    for (const [name, body] of passes) {
      if (name == null) { const p = encoder.beginComputePass(); body(p); p.end(); } else timer.pass(encoder, name, body);
    }
    timer.resolve(encoder);
    device.queue.submit([encoder.finish()]);
    for (const [name, { micros }] of await timer.read()) (samples[name] ??= []).push(micros);
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
}

log(`| weight | MB | cold | warm | ${[0.25, 0.5, 1].map((f) => `ahead ${f}: read / matvec`).join(' | ')} | chain alone | ${[0.25, 0.5].map((f) => `chain+${f}: dispatch / matvec`).join(' | ')} |`);
log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const weight of ['float32', 'float16'] as const) {
  const words = weight === 'float32' ? N * K : (N * K) / 2;
  const w = randomBuffer(device, words, weight === 'float32' ? 'float32' : 'halves');
  const x = randomBuffer(device, K, 'float32');
  const y = storage(device, N * 4);
  const mv = matvecKernel(device, { batch: 1, inFeatures: K, outFeatures: N, xRowStride: K, hasBias: false, weight: weight === 'float32' ? null : 'float16' });
  const mvGroup = bindBuffers(device, mv.pipeline, [w, x, y]);
  const matvec = dispatch({ ...mv, bindGroup: mvGroup });
  const cold = await time([[null, flush], ['matvec', matvec]]);
  const warm = await time([[null, matvec], ['matvec', matvec]]);
  const cells: string[] = [];
  for (const f of [0.25, 0.5, 1]) {
    const pipe = computePipeline(device, readerCode(Math.floor(words * f), 528, 0, false));
    const t = await time([[null, flush], ['read', reader(pipe, w, 528)], ['matvec', matvec]]);
    cells.push(`${t.read.toFixed(1)} / ${t.matvec.toFixed(1)}`);
  }
  const chainPipe = computePipeline(device, readerCode(0, 1, CHAIN_GROUPS, true));
  const chainAlone = await time([[null, flush], ['chain', reader(chainPipe, w, CHAIN_GROUPS)]]);
  for (const f of [0.25, 0.5]) {
    const readers = 448;
    const pipe = computePipeline(device, readerCode(Math.floor(words * f), readers, CHAIN_GROUPS, true));
    const t = await time([[null, flush], ['chain', reader(pipe, w, CHAIN_GROUPS + readers)], ['matvec', matvec]]);
    cells.push(`${t.chain.toFixed(1)} / ${t.matvec.toFixed(1)}`);
  }
  log(`| ${weight} | ${(words * 4 / 1e6).toFixed(1)} | ${cold.matvec.toFixed(1)} | ${warm.matvec.toFixed(1)} | ${cells.slice(0, 3).join(' | ')} | ${chainAlone.chain.toFixed(1)} | ${cells.slice(3).join(' | ')} |`);
  [w, x, y].forEach((b) => b.destroy());
}
if (process.env.OUT) await writeFile(`${process.env.OUT}/prefetch.md`, `${lines.join('\n')}\n`);
process.exit(0);
