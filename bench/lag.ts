/**
 * Greedy decoding's rate against how many steps are recorded ahead of the one being read back (the
 * generation loop's READBACK_LAG): the fused decoder's stepFromDevice, each step's ids read back 1 to
 * 16 steps behind, at BENCH_SHAPE for each weight format in argv[2] (float32,float16 unless given;
 * routines/bench_model.ts), batch 1 and 8.
 * Each row is a fresh cache and decoder: ms a step, the host's ms of it in stepFromDevice, how late the
 * event loop ran its turns meanwhile and the garbage collector's pauses; then, on the same decoder,
 * the same loop with GPU timestamps around each step's pass (stampedGreedyLoop: its ms a step, the
 * GPU's span, its passes, its idle between them and how much of that idle came before the host had
 * submitted the step); then that decoder's own GPU step apart from any loop, and what each kind of its
 * dispatches costs a layer in it.
 * Why: at 2.8b float32 some greedy runs take 0.7-1.2 ms a step more than others over the same kernels
 * (an H100, call 18: 5.09 against 6.17-6.30 ms), and on the H200 one process ran at 4.22 ms where
 * another ran at 5.03 (calls 8 and 9). Call 19 found every run's passes and kernels alike (the slow runs
 * are the GPU idle between steps); call 20, that idle the host's, one pause of 140-240 ms a run.
 * Run like bench/gpu.ts; writes $OUT/lag.md. LAG_LAGS and LAG_STEPS choose the rows and their length.
 */
import { writeFile } from 'node:fs/promises';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { benchModel } from './routines/bench_model.js';
import { decoderStepGpuMs, greedyStepDispatches, passLeavingOut, stampedGreedyLoop, warmGreedyDecoder } from './routines/greedy_step.js';
import { setUpWebGPU } from './routines/webgpu_setup.js';
import type { MambaForCausalLM } from '../src/index.js';
import { READBACK_LAG } from '../src/generation/device_tokens.js';

const out = process.env.OUT ?? '.';
const rows: string[] = [];
const log = (line: string) => { console.log(line); rows.push(line); };
/** Steps read back behind, a row each (LAG_LAGS, space-separated, to run some), and greedy steps a row (LAG_STEPS). */
const LAGS = (process.env.LAG_LAGS ?? '1 2 3 4 6 8 16').split(' ').filter((l) => l !== '').map(Number);
const STEPS = Number(process.env.LAG_STEPS ?? 128);
if (LAGS.some((l) => !Number.isInteger(l) || l < 1) || !Number.isInteger(STEPS) || STEPS < 1) {
  throw new Error(`bench/lag.ts: LAG_LAGS (${process.env.LAG_LAGS}) and LAG_STEPS (${process.env.LAG_STEPS}) take whole numbers from 1`);
}
/** The kinds of dispatch whose cost a layer each row times (the layers' pass less the pass without them). */
const KINDS = ['in_proj', 'x_proj', 'ssm', 'out_proj'];

/** The garbage collector's pauses as they are reported: when, how long, which kind. */
const gcPauses: { startTime: number; duration: number; kind: string }[] = [];
const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge', [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental marking', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
};
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0;
    gcPauses.push({ startTime: e.startTime, duration: e.duration, kind: GC_KINDS[kind] ?? String(kind) });
  }
}).observe({ entryTypes: ['gc'] });

await setUpWebGPU();
const device = (tf.backend() as unknown as { device: GPUDevice }).device;

/** A row of the table: a fresh cache and decoder, `steps` greedy steps read back `lag` behind, then the stamped loop and the GPU's own step on it. */
async function lagged(model: MambaForCausalLM, batch: number, lag: number, steps: number): Promise<string> {
  const { cache, decoder } = await warmGreedyDecoder(model, batch);
  try {
    const pending: Promise<Int32Array>[] = [];
    let host = 0;
    const run = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const called = performance.now();
        pending.push(decoder.stepFromDevice());
        host += performance.now() - called;
        if (pending.length > lag) await pending.shift();
      }
      await Promise.all(pending.splice(0));
    };
    await run(16);
    host = 0;
    const t0 = performance.now();
    // how late the event loop ran its turns meanwhile (a host blocked in Dawn's event processing or a GC)
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    loopDelay.enable();
    await run(steps);
    const t1 = performance.now();
    const ms = (t1 - t0) / steps;
    loopDelay.disable();
    await new Promise((resolve) => setTimeout(resolve, 10));   // (the observer's entries come in a later turn)
    const pauses = gcPauses.filter((e) => e.startTime >= t0 && e.startTime < t1);
    gcPauses.length = 0;
    const longest = pauses.reduce((a, e) => (e.duration > a.duration ? e : a), { duration: 0, kind: '-' } as { duration: number; kind: string });
    const delay = `${(loopDelay.percentile(99) / 1e6).toFixed(1)} / ${(loopDelay.max / 1e6).toFixed(1)} | `
      + `${pauses.length}, ${pauses.reduce((a, e) => a + e.duration, 0).toFixed(1)} ms (longest ${longest.duration.toFixed(1)}, ${longest.kind})`;
    const stamped = await stampedGreedyLoop(device, decoder, steps, lag);
    const own = await decoderStepGpuMs(device, decoder);
    const { whole, without } = await passLeavingOut(device, greedyStepDispatches(decoder).layers, KINDS.map((k) => [k]));
    const kinds = without.map((t) => (whole - t) / model.config.numHiddenLayers);
    const l = stamped;
    return `${[ms, host / steps].map((v) => v.toFixed(2)).join(' | ')} | ${delay} | ${[l.ms, l.span].map((v) => v.toFixed(2)).join(' | ')} | ${l.pass.toFixed(2)} / ${l.longestPass.toFixed(2)} | `
      + `${l.idle.toFixed(3)} (${l.longGaps}; longest ${l.longestGap.toFixed(1)} before step ${l.longestGapAt}) | ${l.unsubmitted.toFixed(3)} | ${own.toFixed(2)} | ${kinds.map((us) => us.toFixed(1)).join(' / ')}`;
  } finally {
    cache.dispose();
  }
}

log(`| ${process.env.BENCH_SHAPE ?? '130m'} | batch | behind | ms a step | host ms of it | event loop's delay, p99 / max ms | GC pauses meanwhile | stamped loop, ms a step | its GPU span a step | its passes, median / longest | GPU idle a step (steps after 0.2 ms of it; the longest, ms) | of it, before the step was submitted | the decoder's GPU step apart, ms | us a layer: ${KINDS.join(' / ')} |`);
log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const format of (process.argv[2] ?? 'float32,float16').split(',')) {
  const model = await benchModel(format, 'bench/lag.ts');
  for (const batch of [1, 8]) {
    for (const lag of LAGS) log(`| ${format} | ${batch} | ${lag}${lag === READBACK_LAG ? ' (generate)' : ''} | ${await lagged(model, batch, lag, STEPS)} |`);
  }
  model.dispose();
}
await writeFile(`${out}/lag.md`, `${rows.join('\n')}\n`);
process.exit(0);
