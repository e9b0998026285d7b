/**
 * The projection kernels alone on a WebGPU device, with GPU timestamps where the device has
 * 'timestamp-query' (else wall time over the queue): the prefill GEMM (every tile shape, float32 and
 * float16 W; float16 W on subgroup matrices, each layout, where the device has them) against tfjs' matMul(x, W^T) in TFLOP/s at M = 128, 512, 2048, and the decode matvec
 * (float32, float16, int8, int4 with group 128; matvecPlan's layout with subgroups and without, and
 * with one of its numbers varied: threads a row halved and doubled, one unit in flight, rows a thread
 * doubled and halved, halves or codes decoded inline, halves cast through f16) at batch 1 and
 * 8 in GB/s of weight read, against 4.8 TB/s (the H200's memory). Projections of mamba 130m, 1.4b and
 * 2.8b (in_proj, x_proj, dt_proj, out_proj; the LM head in the matvec's table); BENCH_SHAPE=small runs a tiny shape (a smoke test on
 * lavapipe, where timings mean nothing), BENCH_SHAPE=130m,2.8b some of them. BENCH_PART=gemm, matvec or stages (what the
 * fused decoder's stages add to in_proj and out_proj: stagesTable; STAGE_WEIGHTS its weights, STAGE_BATCHES
 * its batches, STAGE_LAYOUT in_proj's layout) runs one
 * table; BENCH_PART=ablation times the int4 matvec (ABLATION_WEIGHTS) with parts of its work taken out, x in workgroup memory and other layouts, cold and in the L2 (ablationTable);
 * BENCH_PART=ssm the decoder's state step alone in several layouts (ssmTable);
 * MATVEC_GRID=1 times every layout (threads a row x rows a workgroup x units in flight x rows a thread) of
 * the big projections at batch 1 (float32 at batch 8 too) and prints the fastest three beside the plan's (how
 * matvecPlan was tuned); GRID_PROJECTIONS, GRID_WEIGHTS and GRID_BATCHES (comma-separated) pick its rows,
 * GRID_THREADS its threads a row (8 and 16 too: rows within a subgroup, their sums met by shuffles),
 * GRID_ALL=1 lists every layout's rate a row after the table. Writes markdown tables to stdout and, where OUT is set, $OUT/gemm.md.
 * On the H200: ../shared/gpu/pack.sh bench/gemm.ts, then source .gpu/setup.sh && node /tmp/gpu/bundle/gemm.mjs
 */
import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { matvecGroups, matvecKernel, type MatvecDims, type MatvecOutput, type MatvecPlan, matvecUnits } from '../custom-kernels/webgpu/decode/matvec.js';
import { ACCUMULATE_OUTPUT, NORM_AHEAD_OUTPUT } from '../custom-kernels/webgpu/decode/residual_output.js';
import { convLoadsAhead, convStepOutput } from '../custom-kernels/webgpu/decode/conv_step.js';
import { rmsNormStepKernel } from '../custom-kernels/webgpu/decode/rms_norm_step.js';
import { ssmStepKernel, type SsmStepDims } from '../custom-kernels/webgpu/decode/ssm_step.js';
import { bindBuffers, type DecodeKernel, hasSubgroups } from '../custom-kernels/webgpu/decode/pipeline.js';
import type { WeightSource } from '../custom-kernels/webgpu/decode/weight_source.js';
import { halfWordsPerRow } from '../custom-kernels/float16_format.js';
import { chooseGemmTile, GEMM_TILES, type GemmTile, type GemmWeight, gemmBindGroup, gemmKernel } from '../custom-kernels/webgpu/gemm/gemm.js';
import { MATRIX_LAYOUTS, type MatrixTile, matrixTile, matrixTileBytes, subgroupMatrixShape } from '../custom-kernels/webgpu/gemm/subgroup_matrix_gemm.js';
import { MambaConfig } from '../src/config.js';
import { PassTimer } from '../src/webgpu/pass_timer.js';
import { type RecordedDispatch, recordDispatch } from '../src/webgpu/streamed_submission.js';
import { randomBuffer, storage } from './routines/device_buffers.js';
import { setUpWebGPU } from './routines/webgpu_setup.js';

const PEAK_BYTES_PER_S = 4.8e12;
const small = process.env.BENCH_SHAPE === 'small';
const ALL_MODELS: Record<string, MambaConfig> = {
  '130m': new MambaConfig({ hiddenSize: 768, numHiddenLayers: 24, stateSize: 16, vocabSize: 50280 }),
  '1.4b': new MambaConfig({ hiddenSize: 2048, numHiddenLayers: 48, stateSize: 16, vocabSize: 50280 }),
  '2.8b': new MambaConfig({ hiddenSize: 2560, numHiddenLayers: 64, stateSize: 16, vocabSize: 50280 }),
};
const MODELS: Record<string, MambaConfig> = small
  ? { small: new MambaConfig({ hiddenSize: 64, numHiddenLayers: 1, stateSize: 16, vocabSize: 256 }) }
  : process.env.BENCH_SHAPE == null ? ALL_MODELS
    : Object.fromEntries(process.env.BENCH_SHAPE.split(',').map((name) => {
      if (ALL_MODELS[name] == null) throw new Error(`BENCH_SHAPE: no shape ${name} (${Object.keys(ALL_MODELS).join(', ')}, small)`);
      return [name, ALL_MODELS[name]];
    }));
const PART = process.env.BENCH_PART ?? 'all';
if (!['all', 'gemm', 'matvec', 'stages', 'ablation', 'ssm'].includes(PART)) throw new Error(`BENCH_PART: ${PART} is not gemm, matvec, stages, ablation, ssm or all`);
const GRID = process.env.MATVEC_GRID === '1';
// the grid's rows: GRID_PROJECTIONS (default in_proj,out_proj,lm_head), GRID_WEIGHTS (default float32,float16,int8,int4)
const gridProjections = (process.env.GRID_PROJECTIONS ?? 'in_proj,out_proj,lm_head').split(',');
const gridWeights = (process.env.GRID_WEIGHTS ?? 'float32,float16,int8,int4').split(',');
// GRID_THREADS (comma-separated): its threads a row (default 8,16,32,64,128,256; under a subgroup, its rows meet by shuffles)
const gridThreads = (process.env.GRID_THREADS ?? '8,16,32,64,128,256').split(',').map(Number);
// GRID_BATCHES (comma-separated) for every weight, where float32 takes batches 1 and 8 and the others 1
const gridBatches = process.env.GRID_BATCHES?.split(',').map(Number);
// GRID_ALL=1: every layout's rate, fastest first, a line a row after the grid's table
const GRID_ALL = process.env.GRID_ALL === '1';
const ROWS = small ? [8, 40] : [128, 512, 2048];
const BATCHES = small ? [1, 3] : [1, 8];
const STAGE_WEIGHTS = (process.env.STAGE_WEIGHTS ?? 'float32,float16').split(',');
// the ablation table's weights (ABLATION_WEIGHTS, default int4; the others take only the layouts that apply to them)
const ablationWeights = (process.env.ABLATION_WEIGHTS ?? 'int4').split(',');
// ABLATION_ROWS (a regular expression): only the ablation's layouts whose names it matches, and the plan's
const ablationRows = process.env.ABLATION_ROWS == null ? null : new RegExp(process.env.ABLATION_ROWS);
// STAGE_BATCHES (comma-separated, default 1,4,8) and STAGE_LAYOUT (JSON, MatvecDims.layout: in_proj's instead of the plan's)
const STAGE_BATCHES = (process.env.STAGE_BATCHES ?? '1,4,8').split(',').map(Number);
const STAGE_LAYOUT = process.env.STAGE_LAYOUT == null ? undefined : JSON.parse(process.env.STAGE_LAYOUT) as MatvecDims['layout'];

/** [name, N (out), K (in)] of one layer's projections. */
function projections(c: MambaConfig): [string, number, number][] {
  const DI = c.intermediateSize, R = c.timeStepRank;
  return [['in_proj', 2 * DI, c.hiddenSize], ['x_proj', R + 2 * c.stateSize, DI], ['dt_proj', DI, R], ['out_proj', c.hiddenSize, DI]];
}

const lines: string[] = [];
const log = (line: string) => { console.log(line); lines.push(line); };

await setUpWebGPU();
const backend = tf.backend() as WebGPUBackend;
const device = backend.device;
const timestamps = device.features.has('timestamp-query');
log(`# Projection kernels on ${JSON.stringify(backend.adapterInfo ?? {})}`);
log(`timing: ${timestamps ? 'GPU timestamps around a pass of repeated dispatches' : 'wall time to queue completion (no timestamp-query)'}; subgroups: ${hasSubgroups(device)}`);

/**
 * Wall milliseconds of back-to-back runs before a timed one: an idle GPU sits at its lowest SM clock
 * (an H100 at 345 MHz between this table's cells, 1,980 MHz under a decoder; nvidia-smi read every
 * 250 ms, 2026-12-05) and needs its work to go on a while before it raises it.
 */
const WARM_MS = 150;

/** Milliseconds per repeat of `record`'s dispatches, after WARM_MS of the same to raise the clock. */
async function timeGpu(record: (pass: GPUComputePassEncoder, repeat: number) => void, repeats: number): Promise<number> {
  const run = async (n: number, timed: boolean): Promise<number> => {
    const timer = timed && timestamps ? new PassTimer(device, 1) : null;
    const encoder = device.createCommandEncoder();
    const all = (pass: GPUComputePassEncoder) => { for (let r = 0; r < n; r++) record(pass, r); };
    if (timer == null) {
      const pass = encoder.beginComputePass();
      all(pass);
      pass.end();
    } else {
      timer.pass(encoder, 'all', all);
      timer.resolve(encoder);
    }
    const t0 = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    const wall = performance.now() - t0;
    return timer == null ? wall : (await timer.read()).get('all')!.micros / 1e3;
  };
  const warmUntil = performance.now() + WARM_MS;
  do await run(repeats, false); while (performance.now() < warmUntil);
  return (await run(repeats, true)) / repeats;
}

/** tfjs' matMul(x, W, false, true): kernel time per call through tf.time where timestamps exist, else wall time. */
async function timeTfjs(x: tf.Tensor2D, w: tf.Tensor2D, repeats: number): Promise<number> {
  const warm = tf.matMul(x, w, false, true);
  await warm.data();
  warm.dispose();
  const t0 = performance.now();
  const info = await tf.time(() => {
    for (let r = 0; r < repeats; r++) tf.tidy(() => tf.matMul(x, w, false, true));
  });
  const wall = performance.now() - t0;
  return (typeof info.kernelMs === 'number' && info.kernelMs > 0 ? info.kernelMs : wall) / repeats;
}

const fmt = (v: number, digits = 1) => v.toFixed(digits);

/**
 * Milliseconds a call of `kernel`, the r-th over weight copy r % groups.length (copies that together
 * overflow the L2), `before` dispatched ahead of each where given; repeated until ~2 GB are read,
 * after running so until `warmUntil` (performance.now()'s time) where given.
 */
async function timeRotated(kernel: DecodeKernel, groups: GPUBindGroup[], bytes: number, before?: RecordedDispatch, warmUntil = 0): Promise<number> {
  const repeats = Math.max(groups.length, Math.min(200, Math.ceil(2e9 / bytes)));
  const record = (pass: GPUComputePassEncoder, r: number) => {
    if (before != null) recordDispatch(pass, before);
    recordDispatch(pass, { ...kernel, bindGroup: groups[r % groups.length] });
  };
  while (performance.now() < warmUntil) await timeGpu(record, repeats);
  return timeGpu(record, repeats);
}

/**
 * When a table's first timing after its weights were made on the host (seconds with the GPU idle: an
 * H100's clock fell to 540-675 MHz, calls 34 and 39) should stop warming it up: 600 ms from now.
 */
const warmAfterIdle = () => performance.now() + 600;

if (PART === 'all' || PART === 'gemm') await gemmTable();
if (PART === 'all' || PART === 'matvec') await matvecTable();
if (PART === 'all' || PART === 'stages') await stagesTable();
if (PART === 'ablation') await ablationTable();
if (PART === 'ssm') await ssmTable();

async function gemmTable(): Promise<void> {
  log('\n## Prefill GEMM: y[M, N] = x[M, K] W[N, K]^T, TFLOP/s (ms per call)');
  const tileNames = Object.keys(GEMM_TILES);
  // float16 W on subgroup matrices (x rounded to float16), each layout that fits the workgroup memory, where the device has them
  const shape = subgroupMatrixShape(device);
  const matrixTiles: [string, MatrixTile][] = shape == null ? [] : Object.entries(MATRIX_LAYOUTS).map(([name, l]): [string, MatrixTile] => [name, matrixTile(shape, l)])
    .filter(([, t]) => matrixTileBytes(t) <= device.limits.maxComputeWorkgroupStorageSize);
  log(`subgroup matrices (float16 -> float32): ${shape == null ? 'none' : `${shape.M}x${shape.N}x${shape.K}, subgroups of ${shape.subgroupSize}; [their largest difference from the float32 products, relative to the largest |y|]`}`);
  log(`| model | projection | N x K | M | tfjs matMul | ${tileNames.map((t) => `f32 ${t}`).join(' | ')} | f32 chosen | f16 ${shape ? 'simt ' : ''}chosen |${matrixTiles.map(([n, t]) => ` f16 matrices ${n} (${t.tileM}x${t.tileN}) |`).join('')}${shape ? ' f16 chosen |' : ''}`);
  log(`|---|---|---|---:|---:|${tileNames.map(() => '---:').join('|')}|---|---:|${matrixTiles.map(() => '---:|').join('')}${shape ? '---:|' : ''}`);
  for (const [model, config] of Object.entries(MODELS)) {
    for (const [name, N, K] of projections(config)) {
      const w32 = randomBuffer(device, N * K, 'float32');
      const w16 = randomBuffer(device, N * halfWordsPerRow(K), 'halves');
      const wTensor = tf.randomUniform([N, K], -1, 1) as tf.Tensor2D;
      for (const M of ROWS) {
        const flops = 2 * M * N * K;
        const repeats = Math.max(3, Math.min(50, Math.ceil(2e11 / flops)));
        const x = randomBuffer(device, M * K, 'float32');
        const y = storage(device, M * N * 4);
        const cell = (ms: number) => `${fmt(flops / ms / 1e9)} (${fmt(ms, 3)})`;
        const ours = async (weight: GemmWeight, tile?: GemmTile | MatrixTile) => {
          const kernel = gemmKernel(device, { outFeatures: N, inFeatures: K, hasBias: false, weight, tile }, M);
          const group = gemmBindGroup(device, kernel, M, { x, weight: [weight === 'float32' ? w32 : w16], y });
          const [gx, gy] = kernel.grid(M);
          return timeGpu((pass) => { pass.setPipeline(kernel.pipeline); pass.setBindGroup(0, group); pass.dispatchWorkgroups(gx, gy); }, repeats);
        };
        /** y for float16 W through `tile`, read back. */
        const product = (tile: GemmTile | MatrixTile): Promise<Float32Array> => {
          const kernel = gemmKernel(device, { outFeatures: N, inFeatures: K, hasBias: false, weight: 'float16', tile }, M);
          return recordedOutput(M * N, (pass, out) => {
            pass.setPipeline(kernel.pipeline);
            pass.setBindGroup(0, gemmBindGroup(device, kernel, M, { x, weight: [w16], y: out }));
            pass.dispatchWorkgroups(...kernel.grid(M));
          });
        };
        const xTensor = tf.randomUniform([M, K], -1, 1) as tf.Tensor2D;
        const tfjsMs = await timeTfjs(xTensor, wTensor, repeats);
        xTensor.dispose();
        const perTile: string[] = [];
        for (const t of tileNames) perTile.push(cell(await ours('float32', GEMM_TILES[t])));
        const chosen = chooseGemmTile(M, N);
        const chosenName = tileNames.find((t) => GEMM_TILES[t] === chosen);
        // each layout's y beside the float32 products' (x rounded to float16: about 1e-3 of the largest |y|; a wrong kernel, about 1)
        const reference = matrixTiles.length > 0 ? await product(chosen) : null;
        const matrices: string[] = [];
        for (const [, t] of matrixTiles) matrices.push(`${cell(await ours('float16', t))} [${relativeError(await product(t), reference!).toExponential(0)}]`);
        log(`| ${model} | ${name} | ${N} x ${K} | ${M} | ${cell(tfjsMs)} | ${perTile.join(' | ')} | ${chosenName}: ${cell(await ours('float32'))} | ${cell(await ours('float16', chosen))} |${
          matrices.map((m) => ` ${m} |`).join('')}${shape ? ` ${cell(await ours('float16'))} |` : ''}`);
        x.destroy();
        y.destroy();
      }
      w32.destroy();
      w16.destroy();
      wTensor.dispose();
    }
  }
}

/** max |a - b| / max |b|. */
function relativeError(a: Float32Array, b: Float32Array): number {
  let err = 0, scale = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / (scale || 1);
}

async function matvecTable(): Promise<void> {
  log('\n## Decode matvec: y[b, o] = W[o, :] x[b, :], GB/s of weight read (% of 4.8 TB/s), weights rotated over copies that overflow the L2');
  log('Cells: GB/s (% of peak) [threads a row x rows a workgroup, units in flight, rows a thread]; "plan" is matvecPlan\'s choice, the others vary one of its numbers.');
  const SOURCES: [string, WeightSource, (N: number, K: number) => [number, 'float32' | 'halves' | 'codes' | 'scales'][]][] = [
    ['float32', null, (N, K) => [[N * K, 'float32']]],
    ['float16', 'float16', (N, K) => [[N * halfWordsPerRow(K), 'halves']]],
    ['int8 g128', { bits: 8, groupSize: 128, inFeatures: 0, hasZeros: false }, (N, K) => [[N * Math.ceil(K / 4), 'codes'], [N * Math.ceil(K / 128), 'scales']]],
    ['int4 g128', { bits: 4, groupSize: 128, inFeatures: 0, hasZeros: false }, (N, K) => [[N * Math.ceil(K / 8), 'codes'], [N * Math.ceil(K / 128), 'scales']]],
  ];
  type MatvecOptions = Pick<MatvecDims, 'subgroups' | 'layout'>;
  /** matvecPlan's choice with and without subgroups, and (with them where the device has them) one number of it varied. */
  const variants: [string, (plan: MatvecPlan) => MatvecOptions][] = [
    ['tree, plan', () => ({ subgroups: false })],
    ...(hasSubgroups(device) ? [
      ['subgroups, plan', () => ({ subgroups: true })],
      ['threads a row / 2', (p) => ({ subgroups: true, layout: { threadsPerRow: Math.max(1, p.threadsPerRow / 2) } })],
      ['threads a row x 2', (p) => ({ subgroups: true, layout: { threadsPerRow: p.threadsPerRow * 2 } })],
      ['1 unit in flight', () => ({ subgroups: true, layout: { unitsInFlight: 1 } })],
      ['rows a thread x 2', (p) => ({ subgroups: true, layout: { rowsPerThread: p.rowsPerThread * 2 } })],
      ['rows a thread / 2', (p) => ({ subgroups: true, layout: { rowsPerThread: Math.max(1, p.rowsPerThread / 2) } })],
      ['decoded inline', () => ({ subgroups: true, layout: { decodeInline: true } })],
      ['codes masked', () => ({ subgroups: true, layout: { codeMask: true } })],
      ['codes as they are', () => ({ subgroups: true, layout: { codeMask: false } })],
      ...(device.features.has('shader-f16') ? [['halves cast through f16', () => ({ subgroups: true, layout: { halfCast: true } })] as [string, (plan: MatvecPlan) => MatvecOptions]] : []),
    ] as [string, (plan: MatvecPlan) => MatvecOptions][] : []),
  ];
  /**
   * Every layout within the device's workgroup (MATVEC_GRID=1): threads a row x rows a workgroup x
   * units in flight x rows a thread, on the big projections (in_proj, out_proj, the LM head) at batch
   * 1, and for float32 at batch 8 too.
   */
  const maxThreads = Math.min(device.limits.maxComputeInvocationsPerWorkgroup, device.limits.maxComputeWorkgroupSizeX);
  const grid: MatvecOptions[] = [];
  const everyLayout: string[] = [];
  for (const threadsPerRow of gridThreads) {
    // (rows of fewer threads than a subgroup: workgroups of one or two subgroups of 32)
    for (const rowsPerGroup of threadsPerRow < 32 ? [32 / threadsPerRow, 64 / threadsPerRow] : [1, 2, 4]) {
      if (threadsPerRow * rowsPerGroup > maxThreads) continue;
      for (const unitsInFlight of [1, 2, 4, 8]) {
        for (const rowsPerThread of [1, 2, 4, 8]) {
          grid.push({ subgroups: hasSubgroups(device), layout: { threadsPerRow, rowsPerGroup, unitsInFlight, rowsPerThread } });
        }
      }
    }
  }
  const columns = GRID ? ['plan', 'fastest', 'second', 'third', 'layouts timed'] : variants.map(([v]) => v);
  if (GRID) log('Grid: every layout timed; the fastest three beside the plan\'s.');
  log(`| model | projection | N x K | weight | batch | ${columns.join(' | ')} |`);
  log(`|---|---|---|---|---:|${columns.map(() => '---:').join('|')}|`);
  for (const [model, config] of Object.entries(MODELS)) {
    for (const [name, N, K] of [...projections(config), ['lm_head', config.vocabSize, config.hiddenSize] as [string, number, number]]) {
      if (GRID && !gridProjections.includes(name)) continue;
      for (const [weightName, source0, layout] of SOURCES) {
        if (GRID && !gridWeights.includes(weightName.split(' ')[0])) continue;
        if (source0 != null && source0 !== 'float16' && K % 128 !== 0) continue;   // group 128 needs whole groups here
        const source: WeightSource = source0 == null || source0 === 'float16' ? source0 : { ...source0, inFeatures: K };
        const parts = layout(N, K);
        const bytes = parts.reduce((a, [words]) => a + 4 * words, 0);
        const copies = Math.max(1, Math.min(64, Math.ceil((small ? 1 : 256e6) / bytes)));
        const weights = Array.from({ length: copies }, () => parts.map(([words, kind]) => randomBuffer(device, words, kind)));
        let warmUntil = warmAfterIdle();
        for (const batch of GRID ? gridBatches ?? (source0 == null ? BATCHES : [1]) : BATCHES) {
          const x = randomBuffer(device, batch * K, 'float32');
          const y = storage(device, batch * N * 4);
          const dims: MatvecDims = { batch, inFeatures: K, outFeatures: N, xRowStride: K, hasBias: false, weight: source };
          const chosen = matvecKernel(device, dims).plan;
          const units = matvecUnits(source, K);
          /** GB/s of one layout, with the layout it ran; null for one past the workgroup's limits. */
          const timeLayout = async (options: MatvecOptions): Promise<{ rate: number; cell: string } | null> => {
            let kernel: ReturnType<typeof matvecKernel>;
            try {
              kernel = matvecKernel(device, { ...dims, ...options });
            } catch {
              return null;
            }
            const ms = await timeRotated(kernel, weights.map((w) => bindBuffers(device, kernel.pipeline, [...w, x, y])), bytes, undefined, warmUntil);
            warmUntil = 0;
            const rate = bytes / (ms / 1e3);
            const { threadsPerRow, rowsPerGroup, unitsInFlight, rowsPerThread } = kernel.plan;
            return { rate, cell: `${fmt(rate / 1e9, 0)} (${fmt((100 * rate) / PEAK_BYTES_PER_S, 0)}%) [${threadsPerRow}x${rowsPerGroup}, ${unitsInFlight}, ${rowsPerThread}]` };
          };
          const cells: string[] = [];
          if (GRID) {
            const plan = await timeLayout({});
            const timed: { rate: number; cell: string }[] = [];
            for (const options of grid) {
              // more units in flight than a thread has of its row only repeats loads
              const { threadsPerRow = 1, unitsInFlight = 1 } = options.layout ?? {};
              if (unitsInFlight > 1 && unitsInFlight > Math.ceil(units / threadsPerRow)) continue;
              const t = await timeLayout(options);
              if (t != null) timed.push(t);
            }
            timed.sort((a, b) => b.rate - a.rate);
            cells.push(plan?.cell ?? '-', ...[0, 1, 2].map((k) => timed[k]?.cell ?? '-'), String(timed.length));
            if (GRID_ALL) everyLayout.push(`| ${model} | ${name} | ${weightName} | ${batch} | ${timed.map((t) => t.cell.replace(/ \(\d+%\)/, '')).join('; ')} |`);
          } else {
            for (const [variant, options] of variants) {
              // '-': past the workgroup limit, or halves cast where there are no halves
              cells.push(variant.startsWith('halves') && source !== 'float16' ? '-' : (await timeLayout(options(chosen)))?.cell ?? '-');
            }
          }
          log(`| ${model} | ${name} | ${N} x ${K} | ${weightName} | ${batch} | ${cells.join(' | ')} |`);
          x.destroy();
          y.destroy();
        }
        weights.flat().forEach((b) => b.destroy());
      }
    }
  }
  if (everyLayout.length > 0) {
    log('\nEvery layout, fastest first: GB/s [threads a row x rows a workgroup, units in flight, rows a thread]');
    log('| model | projection | weight | batch | layouts |');
    log('|---|---|---|---:|---|');
    everyLayout.forEach(log);
  }
}

/**
 * What the decoder's stages add to a projection alone (BENCH_PART=stages): in_proj plain, with the
 * norm taken on the way in, with the conv step as its output stage, and with both (as the fused
 * decoder runs it where the norm is not ahead), after a norm dispatch of its own, and normed from the
 * partial sums out_proj leaves (the norm ahead); out_proj plain, adding to the residual stream, and
 * that with the next norm ahead (NORM_AHEAD_OUTPUT). The same rotated weights and plan a row; us a
 * call, barriers between calls included.
 */
async function stagesTable(): Promise<void> {
  log('\n## The decoder\'s stages around a projection: us a call (GB/s of weight read), weights rotated over copies that overflow the L2');
  log('| model | projection | weight | batch | plain | normed on the way in | conv step out | both | a norm dispatch, then conv step out | from partial sums, conv step out | adding to the residual | that, the next norm ahead |');
  log('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const eps = 1e-5;
  for (const [model, config] of Object.entries(MODELS)) {
    const H = config.hiddenSize, DI = config.intermediateSize;
    for (const [name, N, K] of [['in_proj', 2 * DI, H], ['out_proj', H, DI]] as [string, number, number][]) {
      for (const weightName of STAGE_WEIGHTS) {
        const { source, parts } = stageWeight(weightName, N, K);
        const bytes = parts.reduce((a, [words]) => a + 4 * words, 0);
        const copies = Math.max(1, Math.min(64, Math.ceil((small ? 1 : 256e6) / bytes)));
        const weights = Array.from({ length: copies }, () => parts.map(([words, kind]) => randomBuffer(device, words, kind)));
        let warmUntil = warmAfterIdle();
        for (const batch of small ? BATCHES : STAGE_BATCHES) {
          const x = randomBuffer(device, batch * K, 'float32');
          const h = randomBuffer(device, batch * K, 'float32');
          const y = randomBuffer(device, batch * N, 'float32');
          const gamma = randomBuffer(device, K, 'float32');
          const convWeight = randomBuffer(device, DI * config.convKernel, 'float32');
          const convBias = randomBuffer(device, DI, 'float32');
          const window = randomBuffer(device, batch * DI * config.convKernel, 'float32');
          // (the conv step's inputs loaded ahead where the decoder would: convLoadsAhead)
          const conv = convStepOutput({ dInner: DI, convKernel: config.convKernel, hasBias: true }, convLoadsAhead(source, batch));
          const dims: MatvecDims = { batch, inFeatures: K, outFeatures: N, xRowStride: K, hasBias: false, weight: source, layout: name === 'in_proj' ? STAGE_LAYOUT : undefined };
          // the partial sums a row the out_proj before in_proj leaves, in its own weight's layout (as many as that out_proj's own cell writes)
          const partials = matvecGroups(device, { batch, inFeatures: DI, outFeatures: H, xRowStride: DI, hasBias: false, weight: stageWeight(weightName, H, DI).source, output: NORM_AHEAD_OUTPUT });
          const sums = randomBuffer(device, batch * partials, 'float32');
          const normedOut = randomBuffer(device, batch * N, 'float32');
          const normKernel = rmsNormStepKernel(device, { batch, hidden: K, eps, source: 'residual' });
          const normGroup = bindBuffers(device, normKernel.pipeline, [gamma, h, x]);
          /** With `normDispatch`, the norm as a kernel of its own (over h, into x) before each call; 'partials', x normed from partial sums. */
          const time = async (output: MatvecOutput | undefined, outputBuffers: GPUBuffer[], normed: boolean | 'partials', normDispatch = false): Promise<string> => {
            const kernel = matvecKernel(device, { ...dims, output, norm: normed === 'partials' ? { eps, partials } : normed ? { eps } : undefined });
            const groups = weights.map((w) => bindBuffers(device, kernel.pipeline, [...w, x, y, ...outputBuffers, ...(normed === 'partials' ? [sums] : normed ? [gamma] : [])]));
            const ms = await timeRotated(kernel, groups, bytes, normDispatch ? { ...normKernel, bindGroup: normGroup } : undefined, warmUntil);
            warmUntil = 0;
            return `${fmt(ms * 1e3)} (${fmt(bytes / ms / 1e6, 0)})`;
          };
          const convBuffers = [convWeight, convBias, window];
          const cells = name === 'in_proj'
            ? [await time(undefined, [], false), await time(undefined, [], true), await time(conv, convBuffers, false),
              await time(conv, convBuffers, true), await time(conv, convBuffers, false, true), await time(conv, convBuffers, 'partials'), '-', '-']
            : [await time(undefined, [], false), '-', '-', '-', '-', '-', await time(ACCUMULATE_OUTPUT, [], false),
              await time(NORM_AHEAD_OUTPUT, [normedOut, gamma, sums], false)];
          log(`| ${model} | ${name} | ${weightName} | ${batch} | ${cells.join(' | ')} |`);
          [x, h, y, gamma, convWeight, convBias, window, sums, normedOut].forEach((b) => b.destroy());
        }
        weights.flat().forEach((b) => b.destroy());
      }
    }
  }
}

/**
 * Where the packed matvec's time goes (BENCH_PART=ablation): the 2.8b in_proj, out_proj and x_proj as int4
 * (quantize()'s default: groups of 128 with zeros) at batch 1, as the plan makes them, and with the
 * kernel's text changed to leave out a part of its work: the codes' decoding (each product takes its
 * word's bits as they are), the loads of x (each product takes the row's first vectors, loaded once),
 * both (over the codes as they are, not masked where they lie: the plan's before codeMask, and the
 * fold before it, became int4's); the products as integer dot products against x as int8 (int8
 * activations, as llama.cpp's Q8_1; integerDots); x copied into workgroup memory (xShared); units of 4
 * words (the plan's before narrowLayout) and of fewer; and other layouts: a
 * thread's units in one sweep, threads and rows a thread varied. Each cold (weights rotated over
 * copies that overflow the L2) and warm (one copy, in the L2 after the first call): where both take
 * as long, the kernel is bound by its own work, not by the memory. ABLATION_WEIGHTS (default int4)
 * adds other weights (float16, float32) for the layouts that apply to them.
 * The changes that leave work out are timings only: those kernels compute nothing meaningful; the
 * others give their largest difference from the plan's product.
 */
async function ablationTable(): Promise<void> {
  const decode = /\(\(bitcast<vec4<f32>>\(\(\(vec4<u32>\(([\w.]+)\) >> vec4<u32>\([^)]*\)\) & vec4<u32>\(15u\)\) \| vec4<u32>\(0x4b000000u\)\) - 8388608\.0\) - (\w+)\)/g;
  const xLoad = /xAt\(b, u \* 32u \+ (\d+)u\)/g;
  const same = (c: string) => c;
  /** The reduction's kind taken as whole subgroups, where the kernel ors each subgroup's verdict into workgroup memory first. */
  const choiceFixed = (c: string) => c.replace(/  if \(subgroupElect\(\)\) \{ atomicOr\(&reductionKind, [^\n]*\n  let reduction = workgroupUniformLoad\(&reductionKind\);/, '  let reduction = WHOLE_SUBGROUPS;');
  type Layout = NonNullable<MatvecDims['layout']>;
  // The layouts below but the plan's and the narrow units' are of 4 words a unit (matvecUnits' count),
  // as the plan's were before narrowLayout: where not given, int4 at batch 1 would narrow them.
  /** A layout of `rows` rows a thread and `threads` a row, all of a thread's units in one sweep. */
  const oneSweep = (units: number, threads: number, rows: number): Layout => ({
    threadsPerRow: threads, rowsPerThread: rows, rowsPerGroup: Math.max(1, 32 / threads), unitsInFlight: Math.ceil(units / threads), wordsPerUnit: 4,
  });
  /** x in workgroup memory, `rowsPerGroup` row groups of `threadsPerRow` threads, `rowsPerThread` rows each. */
  const shared = (threadsPerRow: number, rowsPerThread: number, rowsPerGroup: number): Layout => ({ threadsPerRow, rowsPerThread, rowsPerGroup, xShared: true });
  /** Units of `words` words, `threadsPerRow` threads a row, `rowsPerThread` rows each, `unitsInFlight` units a sweep, `rowsPerGroup` row groups. */
  const narrow = (words: 1 | 2, threadsPerRow: number, rowsPerThread: number, unitsInFlight: number, rowsPerGroup = 1): Layout => ({
    wordsPerUnit: words, threadsPerRow, rowsPerThread, unitsInFlight, rowsPerGroup,
  });
  /**
   * Timing only: a layout of one word a unit with its codes' products taken as integer dot products
   * (WGSL's dot4I8Packed, NVIDIA's dp4a) against x as int8, the even codes' nibbles and the odd ones'
   * each against 4 bytes of x, where x would come quantized by the kernel before (4 bytes of x a code
   * read as 1), a scale and sum a 32 codes beside it (read from x's binding past K / 4 bytes): what
   * int8 activations would take off int4's decoding and loads of x. The decoding lines go; each
   * unit's products become 2 dot products a row.
   */
  const integerDots = (c: string) => c
    .replace(/^ +let (hi\d+_\d+_\d+|c\d+_\d+_\d+_\d+) = [^\n]*;\n/gm, '')
    .replace(/\{ let b = 0u; let x0 = xAt\(b, u \* 8u \+ 0u\); let x1 = xAt\(b, u \* 8u \+ 4u\); let xsum = [^;]*; ((?:acc\[\d+u \* B \+ b\] \+= [^;]*; )+)\}/g,
      (_, sums: string) => `{ let xw = bitcast<vec4<u32>>(x[u / 2u]); let odd = (u & 1u) == 1u; let xe = select(xw.x, xw.z, odd); let xo = select(xw.y, xw.w, odd); `
        + `let xt = x[I / 16u + u / 8u]; let ds = select(xt.xy, xt.zw, ((u / 4u) & 1u) == 1u); `
        + sums.replace(/acc\[(\d+)u \* B \+ b\] \+= sv(\d+_\d+) \* [^;]*;/g, (_m: string, r: string, sfx: string) =>
          `acc[${r}u] += sv${sfx} * (f32(dot4I8Packed(wv${sfx} & 0x0f0f0f0fu, xe) + dot4I8Packed((wv${sfx} >> 4u) & 0x0f0f0f0fu, xo)) * ds.x - zv${sfx} * ds.y);`)
        + '}');
  /** [name, change of the text (same: none), layout, whether it is for codes only] */
  const allVariants: [string, (code: string) => string, (plan: MatvecPlan, units: number) => Layout | undefined, boolean][] = [
    ['as planned', same, () => undefined, false],
    ['four words a unit (the plan before narrowLayout)', same, () => ({ wordsPerUnit: 4 }), false],
    ['x in workgroup memory (xShared)', same, () => ({ xShared: true }), false],
    ['the reduction chosen without the atomic', choiceFixed, () => undefined, false],
    ['xShared, the reduction chosen without the atomic', choiceFixed, () => ({ xShared: true }), false],
    ['x shared, 32 a row, 4 rows, 8 row groups, one sweep', same, (p, u) => ({ ...shared(32, 4, 8), unitsInFlight: Math.ceil(u / 32) }), false],
    ['x shared, 32 a row, 4 rows, 4 row groups', same, () => shared(32, 4, 4), false],
    ['x shared, 32 a row, 2 rows, 8 row groups', same, () => shared(32, 2, 8), false],
    ['x shared, 32 a row, 1 row, 8 row groups', same, () => shared(32, 1, 8), false],
    ['x shared, 64 a row, 2 rows, 4 row groups', same, () => shared(64, 2, 4), false],
    ['x shared, 128 a row, 4 rows, 2 row groups', same, () => shared(128, 4, 2), false],
    ['x shared, 128 a row, 4 rows, 1 row group', same, () => shared(128, 4, 1), false],
    // units of fewer words: adjacent lanes' x 32 (one word) or 64 bytes (two) apart rather than 128
    ['a word a unit, 32 a row, 4 rows, 5 in flight', same, () => narrow(1, 32, 4, 5), true],
    ['a word a unit, 32 a row, 4 rows, 2 in flight', same, () => narrow(1, 32, 4, 2), true],
    ['a word a unit, 32 a row, 2 rows, 5 in flight', same, () => narrow(1, 32, 2, 5), true],
    ['a word a unit, 32 a row, 8 rows, 2 in flight', same, () => narrow(1, 32, 8, 2), true],
    ['a word a unit, 64 a row, 4 rows, 5 in flight', same, () => narrow(1, 64, 4, 5), true],
    ['a word a unit, 32 a row, 4 rows, 5 in flight, 4 row groups', same, () => narrow(1, 32, 4, 5, 4), true],
    ['a word a unit, 128 a row, 4 rows, 5 in flight', same, () => narrow(1, 128, 4, 5), true],
    ['a word a unit, 128 a row, 2 rows, 5 in flight', same, () => narrow(1, 128, 2, 5), true],
    // (out_proj's workgroups as many as at 4 rows a thread: the next norm's partial sums)
    ['a word a unit, 128 a row, 2 rows, 5 in flight, 2 row groups', same, () => narrow(1, 128, 2, 5, 2), true],
    ['two words a unit, 128 a row, 4 rows, 3 in flight', same, () => narrow(2, 128, 4, 3), true],
    ['a word a unit, 32 a row, 4 rows, 10 in flight', same, () => narrow(1, 32, 4, 10), true],
    ['a word a unit, 64 a row, 2 rows, 5 in flight', same, () => narrow(1, 64, 2, 5), true],
    ['a word a unit, 128 a row, 1 row, 5 in flight', same, () => narrow(1, 128, 1, 5), true],
    ['a word a unit, 256 a row, 2 rows, 3 in flight', same, () => narrow(1, 256, 2, 3), true],
    ['two words a unit, 64 a row, 4 rows, 3 in flight', same, () => narrow(2, 64, 4, 3), true],
    ['two words a unit, 32 a row, 2 rows, 5 in flight', same, () => narrow(2, 32, 2, 5), true],
    ['two words a unit, 128 a row, 2 rows, 3 in flight', same, () => narrow(2, 128, 2, 3), true],
    ['two words a unit, 32 a row, 4 rows, 3 in flight', same, () => narrow(2, 32, 4, 3), true],
    ['a word a unit, 256 a row, 1 row, 3 in flight', same, () => narrow(1, 256, 1, 3), true],
    ['two words a unit, 32 a row, 4 rows, 5 in flight', same, () => narrow(2, 32, 4, 5), true],
    ['two words a unit, 32 a row, 2 rows, 5 in flight, 2 row groups', same, () => narrow(2, 32, 2, 5, 2), true],
    ['two words a unit, 32 a row, 4 rows, 5 in flight, 2 row groups', same, () => narrow(2, 32, 4, 5, 2), true],
    ['a word a unit, 128 a row, 1 row, 5 in flight, 2 row groups', same, () => narrow(1, 128, 1, 5, 2), true],
    // (in_proj's and out_proj's best layouts of a word a unit, with integer dot products: timing only)
    ['a word a unit, 32 a row, 4 rows, 5 in flight, integer dot products', integerDots, () => narrow(1, 32, 4, 5), true],
    ['a word a unit, 128 a row, 2 rows, 5 in flight, 2 row groups, integer dot products', integerDots, () => narrow(1, 128, 2, 5, 2), true],
    ['codes as they are', same, () => ({ codeMask: false, wordsPerUnit: 4 }), true],
    ['as they are, not decoded', (c) => c.replace(decode, '(vec4<f32>(bitcast<f32>($1)) - $2)'), () => ({ codeMask: false, wordsPerUnit: 4 }), true],
    ['as they are, x loaded once', (c) => c.replace(xLoad, 'xAt(b, $1u)'), () => ({ codeMask: false, wordsPerUnit: 4 }), true],
    ['as they are, neither', (c) => c.replace(decode, '(vec4<f32>(bitcast<f32>($1)) - $2)').replace(xLoad, 'xAt(b, $1u)'), () => ({ codeMask: false, wordsPerUnit: 4 }), true],
    ['decoded inline', same, () => ({ decodeInline: true, wordsPerUnit: 4 }), true],
    ['one sweep', same, (p, u) => oneSweep(u, p.threadsPerRow, p.rowsPerThread), false],
    ['32 threads a row, 1 row, one sweep', same, (p, u) => oneSweep(u, 32, 1), false],
    ['32 a row, 2 rows, one sweep', same, (p, u) => oneSweep(u, 32, 2), false],
    ['32 a row, 4 rows, one sweep', same, (p, u) => oneSweep(u, 32, 4), false],
    ['32 a row, 8 rows, one sweep', same, (p, u) => oneSweep(u, 32, 8), false],
    ['64 a row, 4 rows, one sweep', same, (p, u) => oneSweep(u, 64, 4), false],
    // fewer threads a row than a subgroup (their sums meet in the workgroup tree): more units a thread
    ['16 a row, 4 rows, one sweep', same, (p, u) => oneSweep(u, 16, 4), false],
    ['16 a row, 4 rows, 2 units in flight', same, () => ({ threadsPerRow: 16, rowsPerThread: 4, rowsPerGroup: 2, unitsInFlight: 2, wordsPerUnit: 4 }), false],
    ['8 a row, 4 rows, 2 units in flight', same, () => ({ threadsPerRow: 8, rowsPerThread: 4, rowsPerGroup: 4, unitsInFlight: 2, wordsPerUnit: 4 }), false],
    ['8 a row, 2 rows, 4 units in flight', same, () => ({ threadsPerRow: 8, rowsPerThread: 2, rowsPerGroup: 4, unitsInFlight: 4, wordsPerUnit: 4 }), false],
  ];
  const variants = allVariants.filter(([name], i) => i === 0 || ablationRows == null || ablationRows.test(name));
  log('\n## The matvec with parts of its work left out: us a call (GB/s of weights, scales and zeros), weights rotated over copies that overflow the L2 / us with one copy (in the L2)');
  log('(where the product is kept, its largest difference from the plan\'s y over the largest |y| in brackets; "-": a change for codes only)');
  log(`| model | projection | weight | batch | ${variants.map(([v]) => v).join(' | ')} |`);
  log(`|---|---|---|---:|${variants.map(() => '---:').join('|')}|`);
  for (const [model, config] of Object.entries(MODELS)) {
    const H = config.hiddenSize, DI = config.intermediateSize;
    const xProj = config.timeStepRank + 2 * config.stateSize;
    for (const [[name, N, K], weightName] of ([['in_proj', 2 * DI, H], ['out_proj', H, DI], ['x_proj', xProj, DI]] as [string, number, number][])
      .flatMap((projection) => ablationWeights.map((w) => [projection, w] as const))) {
      const { source, parts } = stageWeight(weightName, N, K);
      const bytes = parts.reduce((a, [words]) => a + 4 * words, 0);
      const copies = Math.max(1, Math.min(64, Math.ceil((small ? 1 : 256e6) / bytes)));
      const weights = Array.from({ length: copies }, () => parts.map(([words, kind]) => randomBuffer(device, words, kind)));
      const x = randomBuffer(device, K, 'float32');
      const y = storage(device, N * 4);
      const cells: string[] = [];
      // each layout's text, caught on its way to the compiler: a device of its own each time (kernels
      // are made once per device and text), which passes all else to the device
      const textOf = (layout: MatvecDims['layout']) => {
        let code = '';
        const catching = new Proxy(device, {
          get(target, key) {
            if (key === 'createShaderModule') return (d: GPUShaderModuleDescriptor) => { code = d.code; return target.createShaderModule(d); };
            const v = Reflect.get(target, key, target) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        });
        const kernel = matvecKernel(catching, { batch: 1, inFeatures: K, outFeatures: N, xRowStride: K, hasBias: false, weight: source, layout });
        if (code === '') throw new Error('ablation: the kernel\'s text was not caught');
        return { code, kernel };
      };
      const { plan } = textOf(undefined).kernel;
      const units = matvecUnits(source, K);
      const planY = await productOnce(textOf(undefined).kernel, weights[0], x, N);
      let warmUntil = warmAfterIdle();
      for (const [, change, layoutOf, codesOnly] of variants) {
        // (the text changes know int4 with zeros only)
        if ((codesOnly && !weightName.startsWith('int4')) || (change !== same && change !== choiceFixed && weightName !== 'int4')) {
          cells.push('-');
          continue;
        }
        // (a layout this shape cannot take, e.g. x past the workgroup memory: its message's start)
        let made: ReturnType<typeof textOf>;
        try {
          made = textOf(layoutOf(plan, units));
        } catch (e) {
          cells.push(`(${(e as Error).message.slice(0, 40)})`);
          continue;
        }
        const { code, kernel } = made;
        const changed = change(code);
        if (changed === code && change !== same) throw new Error('ablation: a change found nothing to change');
        const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: changed }), entryPoint: 'main' } });
        const groups = weights.map((w) => bindBuffers(device, pipeline, [...w, x, y]));
        const ms = await timeRotated({ pipeline, grid: kernel.grid }, groups, bytes, undefined, warmUntil);
        warmUntil = 0;
        const warm = await timeRotated({ pipeline, grid: kernel.grid }, groups.slice(0, 1), bytes);
        const kept = change === same || change === choiceFixed ? ` [${relativeDiff(planY, await productOnce({ pipeline, grid: kernel.grid }, weights[0], x, N))}]` : '';
        cells.push(`${fmt(ms * 1e3)} (${fmt(bytes / ms / 1e6, 0)}) / ${fmt(warm * 1e3)}${kept}`);
      }
      log(`| ${model} | ${name} | ${weightName} | 1 | ${cells.join(' | ')} |`);
      [x, y, ...weights.flat()].forEach((b) => b.destroy());
    }
  }
}

/** The largest difference of b from a over the largest |a|. */
function relativeDiff(a: Float32Array, b: Float32Array): string {
  const top = a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return (a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0) / top).toExponential(1);
}

/** y of one dispatch of `kernel` over the weight's buffers and x (the matvec's bindings), read back. */
function productOnce(kernel: DecodeKernel, weight: GPUBuffer[], x: GPUBuffer, N: number): Promise<Float32Array> {
  return recordedOutput(N, (pass, out) => recordDispatch(pass, { ...kernel, bindGroup: bindBuffers(device, kernel.pipeline, [...weight, x, out]) }));
}

/** What `record` writes into `out` (`floats` floats, made here) in a pass of its own, read back. */
async function recordedOutput(floats: number, record: (pass: GPUComputePassEncoder, out: GPUBuffer) => void): Promise<Float32Array> {
  const out = device.createBuffer({ size: floats * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const readable = device.createBuffer({ size: floats * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  record(pass, out);
  pass.end();
  encoder.copyBufferToBuffer(out, 0, readable, 0, floats * 4);
  device.queue.submit([encoder.finish()]);
  await readable.mapAsync(GPUMapMode.READ);
  const values = new Float32Array(readable.getMappedRange().slice(0));
  out.destroy();
  readable.destroy();
  return values;
}

/**
 * The decoder's state step alone (BENCH_PART=ssm): dt_proj's weight as STAGE_WEIGHTS says (float32,
 * float16), batches 1, 4 and 8, the default layout and others (SsmStepDims.layout): threads a
 * workgroup and a channel, rows at once, the batch in slices over workgroups. State, dt_proj and A
 * rotated over copies that overflow the L2, as in place (in_proj streams its weight between two
 * steps); us a call, barriers between calls included.
 */
async function ssmTable(): Promise<void> {
  type Layout = NonNullable<SsmStepDims['layout']>;
  const layouts: [string, (batch: number) => Layout][] = [
    ['default', () => ({})],
    ['128 threads', () => ({ groupThreads: 128 })],
    ['32 threads', () => ({ groupThreads: 32 })],
    ['4 rows at once, 8 a channel', () => ({ rows: 4, channelThreads: 8 })],
    ['a slice of 2 rows', (b) => ({ slices: Math.ceil(b / 2) })],
    ['a slice of 2 rows, 8 a channel', (b) => ({ slices: Math.ceil(b / 2), channelThreads: 8 })],
    ['a slice of 2 rows, 8 a channel, 128 threads', (b) => ({ slices: Math.ceil(b / 2), channelThreads: 8, groupThreads: 128 })],
    ['a slice of 2 rows, 4 a channel', (b) => ({ slices: Math.ceil(b / 2), channelThreads: 4 })],
    ['a slice of 4 rows', (b) => ({ slices: Math.ceil(b / 4) })],
    ['a slice of 4 rows, 8 a channel', (b) => ({ slices: Math.ceil(b / 4), channelThreads: 8 })],
    ['a slice a row', (b) => ({ slices: b })],
    ['a slice a row, 128 threads', (b) => ({ slices: b, groupThreads: 128 })],
    ['a slice a row, 8 a channel', (b) => ({ slices: b, channelThreads: 8 })],
  ];
  log('\n## The state step alone (dt_proj folded in): us a call, state, dt_proj and A rotated over copies that overflow the L2');
  log(`| model | dt_proj | batch | ${layouts.map(([n]) => n).join(' | ')} |`);
  log(`|---|---|---:|${layouts.map(() => '---:').join('|')}|`);
  for (const [model, config] of Object.entries(MODELS)) {
    const DI = config.intermediateSize, N = config.stateSize, R = config.timeStepRank, P = R + 2 * N;
    for (const weightName of STAGE_WEIGHTS.filter((w) => w === 'float32' || w === 'float16')) {
      const { source, parts } = stageWeight(weightName, DI, R);
      let warmUntil = warmAfterIdle();
      for (const batch of small ? BATCHES : [1, 4, 8]) {
        const bytes = parts.reduce((a, [words]) => a + 4 * words, 0) + 4 * (2 * batch * DI * N + DI * N);
        const copies = Math.max(1, Math.min(64, Math.ceil((small ? 1 : 256e6) / bytes)));
        const rotated = Array.from({ length: copies }, () => ({
          w: parts.map(([words, kind]) => randomBuffer(device, words, kind)),
          aLog: randomBuffer(device, DI * N, 'float32'),
          state: randomBuffer(device, batch * DI * N, 'float32'),
        }));
        const xBC = randomBuffer(device, batch * P, 'float32');
        const xz = randomBuffer(device, batch * 2 * DI, 'float32');
        const [dtBias, D] = [0, 1].map(() => randomBuffer(device, DI, 'float32'));
        const y = storage(device, batch * DI * 4);
        const cells: string[] = [];
        let fastest = { ms: Infinity, layout: {} as Layout };
        for (const [, layoutOf] of layouts) {
          const layout = layoutOf(batch);
          const kernel = ssmStepKernel(device, { batch, dInner: DI, dState: N, timeStepRank: R, dtProj: source, layout });
          const groups = rotated.map((c) => bindBuffers(device, kernel.pipeline, [xBC, xz, ...c.w, dtBias, c.aLog, D, c.state, y]));
          const ms = await timeRotated(kernel, groups, bytes, undefined, warmUntil);
          warmUntil = 0;
          cells.push(fmt(ms * 1e3, 2));
          if (ms < fastest.ms) fastest = { ms, layout };
        }
        log(`| ${model} | ${weightName} | ${batch} | ${cells.join(' | ')} |`);
        // for a call to take the fastest into bench/gpu.ts (BENCH_SSM_LAYOUT)
        console.log(`fastest ssm layout: ${model} ${weightName} ${batch} ${JSON.stringify(fastest.layout)}`);
        [xBC, xz, dtBias, D, y, ...rotated.flatMap((c) => [...c.w, c.aLog, c.state])].forEach((b) => b.destroy());
      }
    }
  }
}

/**
 * The weights the stages and ablation tables time (STAGE_WEIGHTS, default float32,float16;
 * ABLATION_WEIGHTS): float32, float16, or int4 / int8 as quantize() packs them by default (groups of
 * 128, a scale and a zero each), or symmetric (int4sym / int8sym: a scale only, as llama.cpp's Q4_0).
 */
function stageWeight(name: string, N: number, K: number): { source: WeightSource; parts: [number, 'float32' | 'halves' | 'codes' | 'scales'][] } {
  if (name === 'float32') return { source: null, parts: [[N * K, 'float32']] };
  if (name === 'float16') return { source: 'float16', parts: [[N * halfWordsPerRow(K), 'halves']] };
  const [, size, symmetric] = /^int(4|8)(sym)?$/.exec(name) ?? [];
  if (size == null) throw new Error(`${name} is not float32, float16, int8, int4, int8sym or int4sym`);
  const bits = size === '4' ? 4 : 8;
  const groups = N * Math.ceil(K / 128);
  return {
    source: { bits, groupSize: 128, inFeatures: K, hasZeros: symmetric == null },
    parts: [[N * Math.ceil((K * bits) / 32), 'codes'], [groups, 'scales'], ...(symmetric == null ? [[groups, 'scales'] as [number, 'scales']] : [])],
  };
}

if (process.env.OUT != null) await writeFile(`${process.env.OUT}/gemm.md`, `${lines.join('\n')}\n`);
process.exit(0);
