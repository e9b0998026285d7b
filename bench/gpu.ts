/**
 * The GPU benchmark (issue 5), bundled by ../shared/gpu/pack.sh and run on the device machine:
 *   source .gpu/setup.sh && node /tmp/gpu/bundle/gpu.mjs
 * mamba-130m-hf shape (BENCH_SHAPE another: 2.8b), random float32 weights, webgpu over Dawn/Vulkan; the
 * sections to run as the first argument (scan,prefill,decode,train,quant,float16); BENCH_OP_BY_OP=0 leaves
 * out the op-by-op rows, BENCH_BITS=4 the int8 ones; BENCH_DECODE_TRIALS="decodeInline codeMask+decodeInline"
 * times the greedy decode again under each set of matvec trials. Writes $OUT/gpu.md and gpu.json.
 */
import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { subgroupMatrixShape } from '../custom-kernels/webgpu/gemm/subgroup_matrix_gemm.js';
import { benchDecode } from './routines/decode.js';
import { greedyStepGpuMs } from './routines/greedy_step.js';
import { READBACK_LAG } from '../src/generation/device_tokens.js';
import { benchPrefill } from './routines/prefill.js';
import { randomIds } from './routines/random_ids.js';
import { firstElements } from './routines/timing.js';
import { prefill } from '../src/generation/prefill.js';
import { benchScan } from './routines/scan.js';
import { benchShape } from './routines/shapes.js';
import { benchTrainStep } from './routines/train_step.js';
import { MambaForCausalLM, toFloat16 } from '../src/index.js';
import { randomQuantize } from './routines/random_quantized.js';
import { matvecTrialNames, setMatvecTrials, setUpWebGPU } from './routines/webgpu_setup.js';

const out = process.env.OUT ?? '.';
const only = new Set((process.argv[2] ?? 'scan,prefill,decode,train,quant').split(','));
// BENCH_OP_BY_OP=0 leaves out the op-by-op rows (minutes at 2.8b); BENCH_BITS=4 or 8 picks the packed widths
const opByOp = process.env.BENCH_OP_BY_OP !== '0';
const bitWidths = (process.env.BENCH_BITS ?? '8,4').split(',').map((b) => {
  if (b !== '8' && b !== '4') throw new Error(`BENCH_BITS: ${b} is not 8 or 4`);
  return Number(b) as 8 | 4;
});
const pathsToTime = opByOp ? [true, false] : [true];
// BENCH_DECODE_TRIALS: matvec trial sets (space-separated; a set's switches joined by +) under which the
// greedy decode runs again in the same process, beside the run without them: one model made (or
// quantized) for all.
const decodeTrials = (process.env.BENCH_DECODE_TRIALS ?? '').split(/\s+/).filter((set) => set !== '')
  .map((set) => matvecTrialNames(set, '+', 'BENCH_DECODE_TRIALS'));
// BENCH_GREEDY_BATCHES: the batches of the greedy rows (comma-separated; default 1,8 for float32 and
// float16, 1 for int4), e.g. 2,4,8 to see where a plan rule starts to pay
const greedyBatches = process.env.BENCH_GREEDY_BATCHES?.split(',').map((b) => {
  if (!/^[1-9][0-9]*$/.test(b)) throw new Error(`BENCH_GREEDY_BATCHES: ${b} is not a batch`);
  return Number(b);
});
const results: Record<string, unknown> = {};
const rows: string[] = [];
const log = (line: string) => { console.log(line); rows.push(line); };

await setUpWebGPU();
const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
const { vendor, architecture, device, description } = adapter!.info;
results.adapter = { vendor, architecture, device, description, date: new Date().toISOString() };
log(`adapter: ${JSON.stringify(results.adapter)}`);
// the float32 model only where a section times it (a 2.8b one takes minutes to make)
const model = ['prefill', 'decode', 'train'].some((section) => only.has(section))
  ? new MambaForCausalLM({ config: benchShape(process.env.BENCH_SHAPE ?? '130m') }) : null;

if (only.has('scan')) {
  for (const batch of [1, 8]) {
    const s = await benchScan(batch, 2048, 1536, 16);
    results[`scan_b${batch}`] = s;
    log(`| scan alone, ${batch} x 2048 x 1536 x 16 | GPU ${s.kernelMs?.toFixed(3)} ms = ${s.kernelGbPerSecond?.toFixed(0)} GB/s`
      + ` (${(100 * (s.kernelGbPerSecond ?? 0) / 4800).toFixed(1)} % of 4.8 TB/s) | wall ${s.ms.toFixed(2)} ms |`);
  }
}
if (only.has('prefill')) {
  for (const seqLen of [512, 2048]) {
    const p = await benchPrefill(model!, seqLen, 1, 3);
    results[`prefill${seqLen}`] = p;
    log(`| forward, batch 1 x ${seqLen}, logits at every position | ${p.tokensPerSecond.toFixed(0)} tokens/s | ${p.ms.toFixed(0)} ms |`);
  }
  // The fused prefill (src/model/webgpu_prefill.ts) against the op path it replaces, batch 1 and 8.
  for (const [batch, seqLen] of [[1, 128], [1, 512], [1, 2048], [8, 512]]) {
    for (const fused of pathsToTime) {
      const p = await benchPrefill(model!, seqLen, batch, fused ? 20 : 5, 'last', fused);
      results[`prefill${batch > 1 ? `_b${batch}_` : ''}${seqLen}_last${fused ? '' : '_op_by_op'}`] = p;
      const what = batch === 1 && seqLen === 128 ? 'time to first token' : batch === 1 && seqLen === 512 ? 'llama-bench pp' : 'as generate';
      log(`| prefill ${batch} x ${seqLen}, last logits (${what}), ${fused ? 'fused prefill' : 'op by op'} | ${p.tokensPerSecond.toFixed(0)} tokens/s | ${p.ms.toFixed(2)} ms |`);
    }
  }
  // What generate does with a prompt: the cache filled, logits for the last position only.
  const ids = randomIds(1, 2048, model!.config.vocabSize);
  const cache = model!.backbone.createCache(1);
  const runs: number[] = [];
  for (let i = 0; i < 4; i++) {
    cache.reset();
    const start = performance.now();
    const logits = (await prefill(model!, ids, cache))!;
    await firstElements([logits]);
    logits.dispose();
    if (i > 0) runs.push(performance.now() - start);
  }
  const ms = runs.sort((a, b) => a - b)[1];
  results.generationPrefill2048 = { ms, tokensPerSecond: 2048 / (ms / 1000) };
  log(`| prefill as generate runs it (cache filled, last logits), 1 x 2048 | ${(2048 / (ms / 1000)).toFixed(0)} tokens/s | ${ms.toFixed(0)} ms |`);
  tf.dispose(ids);
  cache.dispose();
}
if (only.has('decode')) {
  for (const fused of pathsToTime) {
    for (const batch of [1, 8]) {
      const d = await benchDecode(model!, 10, { batch, steps: 64, warmup: 16, fused });
      results[`decode_b${batch}${fused ? '' : '_op_by_op'}`] = d;
      log(`| decode, batch ${batch}, at position 10, ${fused ? 'fused decoder' : 'op by op'} | ${d.tokensPerSecond.toFixed(1)} tokens/s | ${d.msPerToken.toFixed(2)} ms/step |`);
    }
  }
  // Greedy generate's path on the fused decoder: ids kept on the GPU, read back READBACK_LAG steps behind;
  // 256 steps after 64 (at 130m a step is under a millisecond: the GPU's clocks settle over the warm-up).
  await greedyDecode(model!, greedyBatches ?? [1, 8], 'at position 10, fused decoder', 'decode');
  const far = await benchDecode(model!, 2000, { batch: 1, steps: 64, warmup: 16, prefillChunk: 1000 });
  results.decode_b1_2000 = far;
  log(`| decode, batch 1, at position 2,000, fused decoder | ${far.tokensPerSecond.toFixed(1)} tokens/s | ${far.msPerToken.toFixed(2)} ms/step |`);
}
if (only.has('train')) {
  const t = await benchTrainStep(model!, 4, 512, { steps: 3 });
  results.train = t;
  log(`| training step (forward + backward + Adam), 4 x 512 | ${t.tokensPerSecond.toFixed(0)} tokens/s | ${t.msPerStep.toFixed(0)} ms/step |`);
}
model?.dispose();
if (only.has('quant')) {
  // The fused decoder reads the packed codes; the op-by-op step runs the QuantizedMatMul kernel.
  logPromptProducts('int8/int4');
  for (const bits of bitWidths) {
    const q = new MambaForCausalLM({ config: benchShape(process.env.BENCH_SHAPE ?? '130m') });
    randomQuantize(q, bits);   // (random codes: quantize() took a minute at 2.8b)
    const p = await benchPrefill(q, 512, 1, 20, 'last', true);
    results[`prefill512_int${bits}`] = p;
    log(`| prefill 1 x 512, last logits, int${bits} weights, fused prefill | ${p.tokensPerSecond.toFixed(0)} tokens/s | ${p.ms.toFixed(2)} ms |`);
    for (const fused of pathsToTime) {
      const d = await benchDecode(q, 10, { batch: 1, steps: 64, warmup: 16, fused });
      results[`decode_int${bits}${fused ? '' : '_op_by_op'}`] = d;
      log(`| decode, batch 1, int${bits} weights, ${fused ? 'fused decoder' : 'op by op'} | ${d.tokensPerSecond.toFixed(1)} tokens/s | ${d.msPerToken.toFixed(2)} ms/step |`);
    }
    await greedyDecode(q, greedyBatches ?? [1], `int${bits} weights, fused decoder`, `decode_int${bits}`);
    q.dispose();
  }
}
if (only.has('float16')) {
  // Halves in the projections and the head, float32 state and sums.
  logPromptProducts('float16');
  const h = new MambaForCausalLM({ config: benchShape(process.env.BENCH_SHAPE ?? '130m') });
  await toFloat16(h);
  for (const seqLen of [128, 512]) {
    for (const fused of pathsToTime) {
      const p = await benchPrefill(h, seqLen, 1, fused ? 20 : 3, 'last', fused);
      results[`float16_prefill${seqLen}${fused ? '' : '_op_by_op'}`] = p;
      log(`| prefill 1 x ${seqLen}, last logits, float16 weights, ${fused ? 'fused prefill' : 'op by op'} | ${p.tokensPerSecond.toFixed(0)} tokens/s | ${p.ms.toFixed(2)} ms |`);
    }
  }
  await greedyDecode(h, greedyBatches ?? [1, 8], 'float16 weights, fused decoder', 'float16_decode');
  h.dispose();
}
log(`tensors left: ${tf.memory().numTensors}`);

/**
 * Greedy decode of `m` with ids on the GPU at `batches`, as `what` (a row's words; `key` its results'
 * name), then again under each of BENCH_DECODE_TRIALS' sets (a fresh cache makes fresh kernels).
 */
async function greedyDecode(m: MambaForCausalLM, batches: number[], what: string, key: string): Promise<void> {
  for (const set of [[], ...decodeTrials]) {
    const restore = setMatvecTrials(set);
    try {
      for (const batch of batches) {
        const d = await benchDecode(m, 10, { batch, steps: 256, warmup: 64, lagged: true });
        // (the rate varies from run to run around the same kernels; the GPU's own time for the step does not)
        const gpuMs = await greedyStepGpuMs(m, batch, (tf.backend() as WebGPUBackend).device);
        const trial = set.length > 0 ? `, trial ${set.join('+')}` : '';
        results[`${key}_b${batch}_lagged${set.length > 0 ? `_${set.join('+')}` : ''}`] = { ...d, gpuStepMs: gpuMs };
        log(`| decode, batch ${batch}, ${what}, ids on the GPU (read back ${READBACK_LAG} steps behind)${trial} | ${d.tokensPerSecond.toFixed(1)} tokens/s | ${d.msPerToken.toFixed(2)} ms/step (host ${d.hostMsPerToken.toFixed(2)}; steps' median ${d.medianStepMs.toFixed(2)}, longest ${d.longestStepMs.toFixed(1)}; ${d.turnsPerStep.toFixed(0)} turns queued a step${gpuMs == null ? '' : `; the GPU's own step ${gpuMs.toFixed(2)}, ${((1000 * batch) / gpuMs).toFixed(1)} tokens/s`}) |`);
      }
    } finally {
      restore();
    }
  }
}

/**
 * Says how prompts of `weights` multiply here: on subgroup matrices (tensor cores) where the device
 * has them (Dawn: BENCH_DAWN_FLAGS=enable-dawn-features=allow_unsafe_apis), else float32 products.
 */
function logPromptProducts(weights: string): void {
  const shape = subgroupMatrixShape((tf.backend() as WebGPUBackend).device);
  log(`${weights} prompts' projections: ${shape == null ? 'float32 products (no subgroup matrices)' : `subgroup matrices ${shape.M}x${shape.N}x${shape.K}, x and W in halves`}`);
}
await writeFile(`${out}/gpu.md`, `${rows.join('\n')}\n`);
await writeFile(`${out}/gpu.json`, JSON.stringify(results, null, 2));
