/**
 * Where the time goes on a WebGPU device: GPU time per kernel (timestamp queries through tf.profile)
 * for one decode step, one forward pass and one forward + backward, against their wall time; the fused
 * prefill's GPU time per kind of dispatch, also with the scan's loads made a step ahead (scanTuning.prefetch).
 * Run like bench/gpu.ts (BENCH_SHAPE picks the shape; argv[2] the sections: decode,dtypes,prefill,float16,
 * forward,train,quant; BENCH_OP_BY_OP=0 leaves out the op-by-op decode step); writes $OUT/profile.md.
 * Per-dispatch GPU times want Dawn's timestamp quantization off
 * (BENCH_DAWN_FLAGS=disable-dawn-features=timestamp_quantization).
 */
import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { benchShape } from './routines/shapes.js';
import { randomIds } from './routines/random_ids.js';
import { firstElements, median } from './routines/timing.js';
import { benchDecode } from './routines/decode.js';
import { decodeStep, prefill } from '../src/generation/prefill.js';
import { webgpuDecoderFor } from '../src/model/webgpu_decoder.js';
import { webgpuPrefillerFor } from '../src/model/webgpu_prefill.js';
import { FusedAdam } from '../src/training/fused_adam.js';
import { MambaForCausalLM, toFloat16 } from '../src/index.js';
import { randomQuantize } from './routines/random_quantized.js';
import { setUpWebGPU } from './routines/webgpu_setup.js';
import { PassTimer } from '../src/webgpu/pass_timer.js';
import { scanTuning } from '../custom-kernels/webgpu/scan_walk.js';

const out = process.env.OUT ?? '.';
const rows: string[] = [];
const log = (line: string) => { console.log(line); rows.push(line); };

await setUpWebGPU();
const model = new MambaForCausalLM({ config: benchShape(process.env.BENCH_SHAPE ?? '130m') });
const vocab = model.config.vocabSize;

/** Enqueues the work and returns what to wait on: one element of each tensor is read back. */
type Work = () => tf.Tensor[];

async function finish(outs: tf.Tensor[]): Promise<void> {
  await firstElements(outs);
  tf.dispose(outs);
}

async function report(title: string, work: Work): Promise<void> {
  const run = () => finish(work());
  await run();
  const t0 = performance.now();
  const outs = work();
  const enqueued = performance.now() - t0;
  await finish(outs);
  const wall = performance.now() - t0;
  const profile = await tf.profile(run);
  const byName = new Map<string, { n: number; ms: number }>();
  let gpu = 0;
  for (const k of profile.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    gpu += ms;
    const e = byName.get(k.name) ?? { n: 0, ms: 0 };
    e.n++; e.ms += ms;
    byName.set(k.name, e);
  }
  log(`\n### ${title}: wall ${wall.toFixed(1)} ms (enqueued in ${enqueued.toFixed(1)}), ${profile.kernels.length} kernels, GPU ${gpu.toFixed(1)} ms`);
  log('| kernel | calls | GPU ms |');
  log('|---|---|---|');
  for (const [name, e] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, 14)) {
    log(`| ${name} | ${e.n} | ${e.ms.toFixed(2)} |`);
  }
}

const only = new Set((process.argv[2] ?? 'decode,prefill,forward,train').split(','));

/**
 * GPU microseconds of a pass with one empty dispatch between timestamps, the mean of 64: what each row of
 * timeStep's (a pass per dispatch) carries beside its kernel.
 */
async function passOverheadMicros(): Promise<number> {
  const device = (tf.backend() as unknown as { device: GPUDevice }).device;
  const module = device.createShaderModule({ code: '@compute @workgroup_size(1) fn main() {}' });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const passes = 64;
  const timer = new PassTimer(device, passes);
  const encoder = device.createCommandEncoder();
  for (let i = 0; i < passes; i++) {
    timer.pass(encoder, 'empty', (pass) => {
      pass.setPipeline(pipeline);
      pass.dispatchWorkgroups(1);
    });
  }
  timer.resolve(encoder);
  device.queue.submit([encoder.finish()]);
  return (await timer.read()).get('empty')!.micros / passes;
}

const opByOpDecode = process.env.BENCH_OP_BY_OP !== '0';
const passOverhead = only.has('decode') || only.has('dtypes') ? await passOverheadMicros() : 0;

/**
 * The fused decoder's step: back-to-back wall time and the host's share of it (recording and
 * submitting, before any wait), the greedy path's time a step (ids on the GPU), and GPU time per kind
 * of dispatch, each in a pass of its own, with a column less what a pass adds in this step: the sum
 * over kinds less the greedy step's time, a dispatch (an empty pass alone, passOverheadMicros, costs
 * more than that beside kernels: short ones came out under it on the H200).
 */
async function reportDecoder(title: string, m: MambaForCausalLM, batch: number, opByOp: boolean): Promise<void> {
  const cache = m.backbone.createCache(batch);
  const prompt = randomIds(batch, 16, vocab);
  (await prefill(m, prompt, cache))!.dispose();
  const ids = Array.from({ length: batch }, (_, i) => i + 1);
  if (opByOp) await report(`decode step, batch ${batch}, op by op`, () => [decodeStep(m, ids, cache, { fused: false })]);
  const decoder = webgpuDecoderFor(m, cache)!;
  decodeStep(m, ids, cache).dispose();
  const steps = 40;
  const logits: tf.Tensor[] = [];
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) logits.push(decodeStep(m, ids, cache));
  const host = (performance.now() - t0) / steps;
  await firstElements([logits[steps - 1]]);
  const wall = (performance.now() - t0) / steps;
  tf.dispose(logits);
  const greedy = await benchDecode(m, 10, { batch, steps: 128, warmup: 32, lagged: true });
  const kinds = await decoder.timeStep(ids);
  const total = [...kinds.values()].reduce((a, k) => a + k.micros, 0);
  log(`\n### decode step, ${title}, fused decoder: wall ${wall.toFixed(2)} ms a step back to back (host ${host.toFixed(2)} ms of it); `
    + `ids on the GPU ${greedy.msPerToken.toFixed(2)} ms (${greedy.tokensPerSecond.toFixed(1)} tok/s); GPU ${(total / 1000).toFixed(2)} ms with a pass per dispatch`);
  const count = [...kinds.values()].reduce((a, k) => a + k.calls, 0);
  const perPass = Math.max(0, (total - 1000 * greedy.msPerToken) / count);
  log(`| dispatches | calls | GPU us (all) | us a call, less ${perPass.toFixed(1)} us of its pass |`);
  log('|---|---:|---:|---:|');
  for (const [name, { micros, calls }] of kinds) log(`| ${name} | ${calls} | ${micros.toFixed(0)} | ${(micros / calls - perPass).toFixed(1)} |`);
  prompt.dispose();
  cache.dispose();
}

if (only.has('decode') || only.has('dtypes')) log(`a pass with one empty dispatch between timestamps: ${passOverhead.toFixed(1)} us of GPU time`);
for (const batch of only.has('decode') ? [1, 8] : []) await reportDecoder(`batch ${batch}`, model, batch, opByOpDecode);
// The same shape as float16 (converted on the device) and as int4 (random codes: routines/random_quantized.ts).
if (only.has('dtypes')) {
  const half = new MambaForCausalLM({ config: benchShape(process.env.BENCH_SHAPE ?? '130m') });
  await toFloat16(half);
  for (const batch of [1, 8]) await reportDecoder(`batch ${batch}, float16 weights`, half, batch, false);
  half.dispose();
  const q = new MambaForCausalLM({ config: benchShape(process.env.BENCH_SHAPE ?? '130m') });
  randomQuantize(q, 4);
  for (const batch of [1, 8]) await reportDecoder(`batch ${batch}, int4 weights`, q, batch, false);
  q.dispose();
}

/** The fused prefill (generate's, last logits): back-to-back wall time, and GPU time per kind of dispatch. */
async function reportPrefiller(batch: number, seq: number, m = model, title = ''): Promise<void> {
  const prefiller = webgpuPrefillerFor(m, batch)!;
  const ids = randomIds(batch, seq, vocab);
  const once = () => {
    const cache = m.createCache(batch);
    const logits = m.lastLogits(ids, { cache });
    cache.dispose();
    return logits;
  };
  await finish([once()]);
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) once().dispose();
  await finish([once()]);
  const wall = (performance.now() - t0) / 21;
  // One at a time, as a prompt's first token waits: the call's host time, and the wait for its logits.
  const hosts: number[] = [], waits: number[] = [];
  for (let i = 0; i < 11; i++) {
    const s0 = performance.now();
    const logits = once();
    const s1 = performance.now();
    await finish([logits]);
    hosts.push(s1 - s0);
    waits.push(performance.now() - s1);
  }
  const cache = m.createCache(batch);
  const { logits, micros } = await prefiller.timeLastLogits(ids, cache);
  const total = [...micros.values()].reduce((a, b) => a + b, 0);
  log(`\n### prefill ${batch} x ${seq}, last logits, fused prefill${title}: wall ${wall.toFixed(2)} ms back to back, one at a time ${(median(hosts) + median(waits)).toFixed(2)} ms (host ${median(hosts).toFixed(2)}, wait ${median(waits).toFixed(2)}); GPU ${(total / 1000).toFixed(2)} ms with a pass per dispatch`);
  log('| dispatches | GPU us (all layers) |');
  log('|---|---|');
  for (const [name, us] of micros) log(`| ${name} | ${us.toFixed(0)} |`);
  tf.dispose([logits, ids]);
  cache.dispose();
}
for (const seq of only.has('prefill') ? [128, 512] : []) await reportPrefiller(1, seq);
// The scan's loads a step ahead (scanTuning.prefetch, off by default until these rows say otherwise).
if (only.has('prefill')) {
  scanTuning.prefetch = true;
  for (const seq of [128, 512]) await reportPrefiller(1, seq, model, ', scan loads a step ahead');
  scanTuning.prefetch = false;
}
if (only.has('float16')) {
  const half = new MambaForCausalLM({ config: benchShape(process.env.BENCH_SHAPE ?? '130m') });
  await toFloat16(half);
  for (const seq of [128, 512]) await reportPrefiller(1, seq, half, ', float16 weights');
  half.dispose();
}
if (only.has('quant')) {
  const q = new MambaForCausalLM({ config: benchShape(process.env.BENCH_SHAPE ?? '130m') });
  randomQuantize(q, 8);
  await reportDecoder('batch 1, int8 weights', q, 1, false);
  q.dispose();
}
for (const seq of only.has('forward') ? [2048] : []) {
  const ids = randomIds(1, seq, vocab);
  await report(`forward 1 x ${seq}, full logits`, () => [model.forward(ids).logits]);
  const t0 = performance.now();
  const logits = model.forward(ids).logits;
  await logits.data();
  logits.dispose();
  log(`(the same with all logits read back: ${(performance.now() - t0).toFixed(1)} ms)`);
  ids.dispose();
}
if (only.has('train')) {
  const ids = randomIds(4, 512, vocab);
  await report('forward + backward 4 x 512', () => {
    const { value, grads } = tf.variableGrads(() => model.forward(ids, { labels: ids }).loss!.asScalar());
    return [value, ...Object.values(grads)];
  });
  const optimizer = new FusedAdam(1e-4);
  const variables = [...model.namedWeights().values()];
  await report('training step 4 x 512 (forward + backward + Adam)', () =>
    [optimizer.minimize(() => model.forward(ids, { labels: ids }).loss!, true, variables)!]);
  optimizer.dispose();
  ids.dispose();
}
model.dispose();
await writeFile(`${out}/profile.md`, `${rows.join('\n')}\n`);
