/**
 * The host's share of a decode token on WebGPU: what recording and submitting a token's ~260
 * dispatches costs, where the fused decoder's greedy steps are bound by the host rather than the GPU
 * (2.8b float16 on the H100's host: 2.90 ms of a 3.12 ms step).
 * 1. Raw dispatches with 1, 4 and 8 storage bindings, four pipelines in turn (as a layer's kernels
 *    alternate), each with a bind group of its own: microseconds to encode and to submit a dispatch;
 *    and each of a dispatch's three calls alone, beside a getter (what a call into dawn.node costs).
 * 2. The fused decoder's step at BENCH_SHAPE, for each weight format in argv[2] (float32,float16; also
 *    int8, int4: random codes, routines/random_quantized.ts):
 *    the per-step checks, encoding and submission timed apart, with the GPU idle between steps; then
 *    the greedy decode as generate runs it, under V8's CPU profiler ($OUT/host-<format>.cpuprofile),
 *    and the same steps recorded back to back, their reads awaited only after; each greedy decode with
 *    what it spent a call in the calls a step makes once (submit, finish, mapAsync, the encoder's
 *    creation) and in the collector's pauses.
 * 3. What each kind of dispatch costs the GPU in place, at batch 1 and 8: a step's dispatches in one
 *    pass between two timestamps, whole and with one kind left out (the states it leaves are garbage:
 *    timing only). The difference is the kind's kernels with the gaps before them, which timing each
 *    dispatch in a pass of its own cannot separate. Then the greedy step whole (layers, LM head,
 *    choice), its passes in one submission and in a submission each: the GPU's idle time between
 *    submissions is the span less the passes.
 * Run like bench/gpu.ts; writes $OUT/host.md.
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { PerformanceObserver } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { benchModel } from './routines/bench_model.js';
import { benchDecode } from './routines/decode.js';
import { greedyStepDispatches, passLeavingOut, stampedSteps, warmGreedyDecoder } from './routines/greedy_step.js';
import { setUpWebGPU } from './routines/webgpu_setup.js';
import { median } from './routines/timing.js';
import type { MambaForCausalLM } from '../src/index.js';
import { WebGPUDecoder } from '../src/model/webgpu_decoder.js';
import { recordDispatch, type RecordedDispatch } from '../src/webgpu/streamed_submission.js';

const out = process.env.OUT ?? '.';
/** The greedy decodes' timed steps and the steps before them. */
const GREEDY_STEPS = 256;
const GREEDY_WARMUP = 64;
const rows: string[] = [];
const log = (line: string) => { console.log(line); rows.push(line); };

await setUpWebGPU();
const device = (tf.backend() as unknown as { device: GPUDevice }).device;

/** Encodes `dispatches` in one pass and submits them, `runs` times with the GPU idle between: median us to encode, to submit, a dispatch. */
async function timeRecording(dispatches: RecordedDispatch[], runs: number): Promise<{ encode: number; submit: number }> {
  const encode: number[] = [];
  const submit: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const d of dispatches) recordDispatch(pass, d);
    pass.end();
    const commands = encoder.finish();
    const t1 = performance.now();
    device.queue.submit([commands]);
    const t2 = performance.now();
    await device.queue.onSubmittedWorkDone();
    encode.push((1000 * (t1 - t0)) / dispatches.length);
    submit.push((1000 * (t2 - t1)) / dispatches.length);
  }
  return { encode: median(encode), submit: median(submit) };
}

/** 260 dispatches over four pipelines of `bindings` storage buffers each, every dispatch with buffers of its own. */
function rawDispatches(bindings: number): { dispatches: RecordedDispatch[]; buffers: GPUBuffer[] } {
  const buffers: GPUBuffer[] = [];
  const pipelines = [0, 1, 2, 3].map((k) => device.createComputePipeline({
    layout: 'auto',
    compute: {
      entryPoint: 'main',
      module: device.createShaderModule({ code: `
${Array.from({ length: bindings }, (_, i) => `@group(0) @binding(${i}) var<storage, ${i === 0 ? 'read_write' : 'read'}> b${i} : array<f32>;`).join('\n')}
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g : vec3<u32>) {
  if (g.x == ${k}u) { b0[0] = b0[0]${Array.from({ length: bindings - 1 }, (_, i) => ` + b${i + 1}[0]`).join('')}; }
}` }),
    },
  }));
  const dispatches = Array.from({ length: 260 }, (_, i) => {
    const pipeline = pipelines[i % 4];
    const own = Array.from({ length: bindings }, () => device.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE }));
    buffers.push(...own);
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0), entries: own.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    return { pipeline, bindGroup, grid: [1, 1] as [number, number] };
  });
  return { dispatches, buffers };
}

log('| raw dispatches (260, 4 pipelines in turn) | encode us a dispatch | submit us a dispatch |');
log('|---|---:|---:|');
for (const bindings of [1, 4, 8]) {
  const { dispatches, buffers } = rawDispatches(bindings);
  await timeRecording(dispatches, 5);
  const t = await timeRecording(dispatches, 40);
  log(`| ${bindings} storage bindings | ${t.encode.toFixed(2)} | ${t.submit.toFixed(2)} |`);
  for (const b of buffers) b.destroy();
}

/**
 * Each call a dispatch takes, alone: CALLS of one in a pass (not submitted), us a call; beside a getter
 * of a GPUBuffer, what a call into dawn.node costs before Dawn does anything.
 */
const CALLS = 20000;
{
  const { dispatches, buffers } = rawDispatches(8);
  const [{ pipeline, bindGroup }] = dispatches;
  // (a pass of its own each time, its pipeline and bind group set: their cost is a few of CALLS' calls)
  const perCall = (body: (pass: GPUComputePassEncoder) => void) => (timeCalls(() => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    body(pass);
    pass.end();
    encoder.finish();
  }, 5) / CALLS).toFixed(2);
  let sizes = 0;
  log(`\n| a call alone (${CALLS} in a pass) | us a call |`);
  log('|---|---:|');
  log(`| GPUBuffer.size (a getter) | ${perCall(() => { for (let i = 0; i < CALLS; i++) sizes += buffers[0].size; })} |`);
  log(`| setPipeline | ${perCall((pass) => { for (let i = 0; i < CALLS; i++) pass.setPipeline(pipeline); })} |`);
  log(`| setBindGroup (8 storage bindings) | ${perCall((pass) => { for (let i = 0; i < CALLS; i++) pass.setBindGroup(0, bindGroup); })} |`);
  log(`| dispatchWorkgroups (8 storage bindings bound) | ${perCall((pass) => { for (let i = 0; i < CALLS; i++) pass.dispatchWorkgroups(1, 1); })} |`);
  if (sizes === 0) throw new Error('host: no buffer size read');
  for (const b of buffers) b.destroy();
}

/** Median us of `runs` calls of `f`, after as many to warm up. */
function timeCalls(f: () => void, runs: number): number {
  const times: number[] = [];
  for (let r = 0; r < 2 * runs; r++) {
    const t0 = performance.now();
    f();
    if (r >= runs) times.push(1000 * (performance.now() - t0));
  }
  return median(times);
}

const formats = (process.argv[2] ?? 'float32,float16').split(',');
for (const format of formats) {
  const model = await benchModel(format, 'bench/host.ts');
  const { cache, decoder } = await warmGreedyDecoder(model, 1);
  // (the decoder's private steps, timed apart)
  const inner = decoder as unknown as { prepareStep(): RecordedDispatch[] };
  const checks = timeCalls(() => WebGPUDecoder.unfusable(model, cache), 50);
  const prepare = timeCalls(() => inner.prepareStep(), 50);
  const dispatches = inner.prepareStep();
  const recording = await timeRecording(dispatches, 40);
  const steps: number[] = [];
  for (let i = 0; i < 40; i++) {
    const t0 = performance.now();
    const read = decoder.stepFromDevice();
    steps.push(1000 * (performance.now() - t0));
    await read;
  }
  log(`\n### ${format}, batch 1, ${dispatches.length} dispatches a token (GPU idle between steps)`);
  log(`| part of a step | us |`);
  log('|---|---:|');
  log(`| whole stepFromDevice (median of 40) | ${median(steps).toFixed(0)} |`);
  log(`| checks (unfusable) | ${checks.toFixed(0)} |`);
  log(`| prepareStep (states, rebind check, flush) | ${prepare.toFixed(0)} |`);
  log(`| encode the layers' dispatches | ${(recording.encode * dispatches.length).toFixed(0)} (${recording.encode.toFixed(2)} a dispatch) |`);
  log(`| submit them | ${(recording.submit * dispatches.length).toFixed(0)} (${recording.submit.toFixed(2)} a dispatch) |`);
  cache.dispose();

  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  const { result: d, calls } = await hostCalls(() => benchDecode(model, 10, { batch: 1, steps: GREEDY_STEPS, warmup: GREEDY_WARMUP, lagged: true }));
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  await writeFile(`${out}/host-${format}.cpuprofile`, JSON.stringify(profile));
  const greedyRow = (what: string, g: typeof d, spent: string) => log(`| greedy decode, ${what} | ${(1000 * g.msPerToken).toFixed(0)} a step, `
    + `host ${(1000 * g.hostMsPerToken).toFixed(0)} (${g.tokensPerSecond.toFixed(1)} tok/s); ${spent} |`);
  greedyRow('ids on the GPU (under the profiler)', d, calls);
  log(`| the same steps back to back (64 recorded, then their reads awaited) | ${(1000 * (await backToBack(model, 64))).toFixed(0)} a step |`);
  for (const poll of ['spin', 'timer', 'spin'] as const) {
    const g = await hostCalls(() => greedyPolled(model, poll));
    greedyRow(`Dawn's events processed ${poll === 'spin' ? 'at every turn of the loop (as it does)' : 'on a 1 ms timer'}`, g.result, g.calls);
  }
  if (device.features.has('timestamp-query')) {
    for (const batch of [1, 8]) await marginalCosts(model, batch, format);
  }
  model.dispose();
}
/**
 * What `run` (a greedy decode of GREEDY_WARMUP + GREEDY_STEPS steps) spent in the dawn.node calls a step
 * makes once (us a call, over the run's calls, its prompt's few among them) and in the collector's pauses
 * (ms a step): where a run's host time went when it moved between runs of the same code (call 115: int4's
 * host 1.63 then 3.00 ms a step). A dispatch's three calls are not wrapped: timing them would cost about
 * what they do.
 */
async function hostCalls<T>(run: () => Promise<T>): Promise<{ result: T; calls: string }> {
  const owners = {
    submit: GPUQueue.prototype, createCommandEncoder: GPUDevice.prototype, finish: GPUCommandEncoder.prototype, mapAsync: GPUBuffer.prototype,
  } as unknown as Record<string, Record<string, (...args: unknown[]) => unknown>>;
  const spent = new Map<string, { ms: number; calls: number }>();
  const originals = Object.entries(owners).map(([name, owner]) => {
    const original = owner[name];
    owner[name] = function timed(this: unknown, ...args: unknown[]) {
      const t0 = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        const s = spent.get(name) ?? { ms: 0, calls: 0 };
        s.ms += performance.now() - t0;
        s.calls += 1;
        spent.set(name, s);
      }
    };
    return () => { owner[name] = original; };
  });
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) gcMs += e.duration; });
  observer.observe({ entryTypes: ['gc'] });
  try {
    const result = await run();
    await new Promise((resolve) => setTimeout(resolve, 0));   // (the observer's entries arrive on a later turn)
    const perCall = [...spent].map(([name, { ms, calls }]) => `${name} ${((1000 * ms) / calls).toFixed(1)}`).join(', ');
    return { result, calls: `us a call: ${perCall}; collector ${(gcMs / (GREEDY_WARMUP + GREEDY_STEPS)).toFixed(2)} ms a step` };
  } finally {
    observer.disconnect();
    for (const restore of originals) restore();
  }
}

/**
 * The greedy decode at batch 1 with dawn.node's wait for a map as it is (it calls setImmediate to
 * process Dawn's events at every turn of the event loop while a map is pending: a core spinning on the
 * driver), or with those calls put on a 1 ms timer: whether the spinning slows the GPU's steps.
 */
async function greedyPolled(model: MambaForCausalLM, poll: 'spin' | 'timer'): Promise<Awaited<ReturnType<typeof benchDecode>>> {
  const own = globalThis.setImmediate;
  if (poll === 'timer') {
    (globalThis as { setImmediate: unknown }).setImmediate = (fn: (...a: unknown[]) => void, ...args: unknown[]) => setTimeout(fn, 1, ...args);
  }
  try {
    return await benchDecode(model, 10, { batch: 1, steps: GREEDY_STEPS, warmup: GREEDY_WARMUP, lagged: true });
  } finally {
    globalThis.setImmediate = own;
  }
}

/**
 * Ms a greedy step of `model` at batch 1 when `steps` of them are recorded at once and only then
 * awaited: the GPU's rate with no turn of the loop between steps (beside the greedy loop's, which
 * waits for each read READBACK_LAG steps behind).
 */
async function backToBack(model: MambaForCausalLM, steps: number): Promise<number> {
  const { cache, decoder } = await warmGreedyDecoder(model, 1);
  const t0 = performance.now();
  const reads = Array.from({ length: steps }, () => decoder.stepFromDevice());
  await Promise.all(reads);
  const ms = (performance.now() - t0) / steps;
  cache.dispose();
  return ms;
}

/** The step's GPU time whole and less each kind of dispatch (see the file header, 3). */
async function marginalCosts(model: MambaForCausalLM, batch: number, format: string): Promise<void> {
  const { cache, decoder } = await warmGreedyDecoder(model, batch);
  // (the head and choice made by the warm steps)
  const { layers: all, head, choice, step } = greedyStepDispatches(decoder);
  const layers = model.config.numHiddenLayers;
  await stampedSteps(device, all, 10, false);   // warm: clocks up, pipelines resident
  const groups = [...[...new Set(all.map((d) => d.name))].map((k) => [k]), ['x_proj', 'ssm']];
  const { whole, without } = await passLeavingOut(device, all, groups);
  log(`\n### ${format}, batch ${batch}: GPU time of a step's layers in one pass, ${whole.toFixed(0)} us (${all.length} dispatches)`);
  log('| left out | us a step | us a layer, with its gaps |');
  log('|---|---:|---:|');
  groups.forEach((left, i) => log(`| ${left.join(' + ')} | ${without[i].toFixed(0)} | ${((whole - without[i]) / layers).toFixed(2)} |`));
  log(`| LM head | ${(await stampedSteps(device, [head], 30, false)).passes.toFixed(0)} | |`);
  log(`| greedy choice | ${(await stampedSteps(device, [choice], 30, false)).passes.toFixed(0)} | |`);
  for (const perSubmit of [false, true]) {
    const { passes, span } = await stampedSteps(device, step, 30, perSubmit);
    log(`| the greedy step whole, ${perSubmit ? 'a submission each' : 'one submission for 30'} | ${passes.toFixed(0)} a pass, `
      + `${span.toFixed(0)} a step of the span (${(span - passes).toFixed(0)} idle) | |`);
  }
  cache.dispose();
}

await writeFile(`${out}/host.md`, `${rows.join('\n')}\n`);
