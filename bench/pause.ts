/**
 * Greedy decoding after a pause of the event loop while a read's map is pending, as a collector's
 * pause lands on one (routines/map_pause.ts): the steps after the pause against the steps' median and
 * the GPU's own step. A pause is the loop's cost once; where it enters how long later reads wait
 * before they map (src/webgpu/readback_pool.ts), it costs again for several steps after. Batch 1 and 8
 * at BENCH_SHAPE, float32 (argv[2]: the formats, routines/bench_model.ts), a pause of PAUSE_MS
 * (default "50 100") during the first map after step 128 of 256. Run like bench/gpu.ts; writes $OUT/pause.md.
 */
import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { benchModel } from './routines/bench_model.js';
import { benchDecode } from './routines/decode.js';
import { greedyStepGpuMs } from './routines/greedy_step.js';
import { setUpWebGPU } from './routines/webgpu_setup.js';

const PAUSES = (process.env.PAUSE_MS ?? '50 100').split(' ').filter((p) => p !== '').map(Number);
const STEPS = 256;
const AT = 128;
const rows: string[] = [];
const log = (line: string) => { console.log(line); rows.push(line); };

await setUpWebGPU();
const device = (tf.backend() as WebGPUBackend).device;
log(`| ${process.env.BENCH_SHAPE ?? '130m'} | batch | pause after step ${AT} of ${STEPS}, ms | during a map | ms a step after it | the pause's step, ms | steps' median, ms | the GPU's own step, ms |`);
log('|---|---:|---:|---|---:|---:|---:|---:|');
for (const format of (process.argv[2] ?? 'float32').split(',')) {
  const model = await benchModel(format, 'bench/pause.ts');
  for (const batch of [1, 8]) {
    const gpuMs = await greedyStepGpuMs(model, batch, device);
    for (const ms of PAUSES) {
      const d = await benchDecode(model, 10, { batch, steps: STEPS, warmup: 64, lagged: true, pause: { at: AT, ms } });
      const { msPerStep, pauseStepMs, duringMap } = d.afterPause!;
      log(`| ${format} | ${batch} | ${ms} | ${duringMap == null ? 'no map came' : duringMap ? 'yes' : 'no (its copy was done)'} | ${msPerStep.toFixed(2)} | ${pauseStepMs.toFixed(1)} | ${d.medianStepMs.toFixed(2)} | ${gpuMs?.toFixed(2) ?? '-'} |`);
    }
  }
  model.dispose();
}
await writeFile(`${process.env.OUT ?? '.'}/pause.md`, `${rows.join('\n')}\n`);
process.exit(0);
