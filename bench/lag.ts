/**
 * Greedy decoding's rate against how many steps are recorded ahead of the one being read back (the
 * generation loop's READBACK_LAG): the fused decoder's stepFromDevice, each step's ids read back 1 to
 * 16 steps behind, at BENCH_SHAPE for each weight format in argv[2] (float32,float16), batch 1 and 8.
 * Each cell is a fresh cache and decoder: ms a step, that decoder's own GPU step timed after, and the
 * host's ms a step in stepFromDevice. Why: at 2.8b float32 on an H100 some greedy runs took 5.8-6.2 ms a
 * step against a GPU step of 5.15, and 64 steps recorded before any read came within 0.05 ms of it. The
 * first run (2026-12-05, call 18, before the last two columns of each cell) found the depth does not
 * matter: 1 behind ran as fast as 16, and the slow runs were slow at any depth.
 * Run like bench/gpu.ts; writes $OUT/lag.md.
 */
import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { benchShape } from './routines/shapes.js';
import { decoderStepGpuMs, greedyStepGpuMs, warmGreedyDecoder } from './routines/greedy_step.js';
import { setUpWebGPU } from './routines/webgpu_setup.js';
import { MambaForCausalLM, toFloat16 } from '../src/index.js';
import { READBACK_LAG } from '../src/generation/device_tokens.js';

const out = process.env.OUT ?? '.';
const rows: string[] = [];
const log = (line: string) => { console.log(line); rows.push(line); };
const LAGS = [1, 2, 3, 4, 6, 8, 16];
const STEPS = 128;

await setUpWebGPU();
const device = (tf.backend() as unknown as { device: GPUDevice }).device;

/**
 * `steps` greedy steps, each read back `lag` steps behind the newest recorded: ms a step, of it the
 * host's ms in stepFromDevice, and the GPU's own ms for a step of this decoder over this cache (timed
 * after, in passes between timestamps: a slow run is the GPU's where this is slow too).
 */
async function lagged(model: MambaForCausalLM, batch: number, lag: number, steps: number): Promise<{ ms: number; host: number; gpu: number }> {
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
    await run(steps);
    const ms = (performance.now() - t0) / steps;
    return { ms, host: host / steps, gpu: await decoderStepGpuMs(device, decoder) };
  } finally {
    cache.dispose();
  }
}

log(`| ${process.env.BENCH_SHAPE ?? '130m'} | batch | GPU's own step, ms (a fresh cache) | ${LAGS.map((l) => `${l} behind${l === READBACK_LAG ? ' (generate)' : ''}`).join(' | ')} |`);
log(`|---|---:|---:|${LAGS.map(() => '---:').join('|')}|`);
for (const format of (process.argv[2] ?? 'float32,float16').split(',')) {
  const model = new MambaForCausalLM({ config: benchShape(process.env.BENCH_SHAPE ?? '130m') });
  if (format === 'float16') await toFloat16(model);
  else if (format !== 'float32') throw new Error(`bench/lag.ts: no format ${format} (float32, float16)`);
  for (const batch of [1, 8]) {
    const gpu = await greedyStepGpuMs(model, batch, device);
    const cells: string[] = [];
    for (const lag of LAGS) {
      const { ms, host, gpu: own } = await lagged(model, batch, lag, STEPS);
      cells.push(`${ms.toFixed(2)} ms (GPU ${own.toFixed(2)}, host ${host.toFixed(2)})`);
    }
    log(`| ${format} | ${batch} | ${gpu == null ? '-' : gpu.toFixed(2)} | ${cells.join(' | ')} |`);
  }
  model.dispose();
}
await writeFile(`${out}/lag.md`, `${rows.join('\n')}\n`);
process.exit(0);
