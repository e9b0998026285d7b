/**
 * How far is the fused decoder from the floor its structure sets? A greedy step's dispatches depend
 * on each other (a layer's in_proj, x_proj, state step and out_proj each wait for the one before;
 * WebGPU has no grid-wide barrier), so a step costs at least what those dispatches cost if each only
 * read the bytes it must read. For each format in argv[2] (float16,int4 unless given), at BENCH_SHAPE
 * (2.8b unless set), batch 1:
 *   the decoder  the GPU's greedy step (ids on the GPU), a pass's median (passMs)
 *   readers      the same sequence of dispatches, each replaced by a kernel that only reads as many
 *                bytes as that dispatch reads from memory (its weights, biases and states; activations
 *                are a few KB in the L2), each from a buffer of its own as in place, each in the
 *                layout of bench/routines/reader.ts that read its size fastest alone
 *   empty        the same dispatches reading one unit each: what the chain of dependent dispatches
 *                costs without the memory
 * and, per kind of dispatch, the decoder's cost in place (a step in one pass, whole and less that kind,
 * over the kind's dispatches) beside the fastest reader alone (every layout timed over copies that
 * overflow the L2). The readers' step is not a proof of a floor (a kernel could read in a way no layout here
 * does), but no dispatch of the decoder can do less than read its bytes. Times are GPU timestamps
 * (Dawn's quantization off: BENCH_DAWN_FLAGS=disable-dawn-features=timestamp_quantization). Writes
 * $OUT/roofline.md.
 */
import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { bindBuffers, computePipeline } from '../custom-kernels/webgpu/decode/pipeline.js';
import type { MambaForCausalLM } from '../src/index.js';
import type { MambaCache } from '../src/model/cache.js';
import { matrixOf } from '../src/model/webgpu_decoder.js';
import { type RecordedDispatch, recordDispatch } from '../src/webgpu/streamed_submission.js';
import type { WeightBinding } from '../src/weights/linear_weight.js';
import { benchModel } from './routines/bench_model.js';
import { greedyStepDispatches, passLeavingOut, stampedSteps, warmClocks, warmGreedyDecoder } from './routines/greedy_step.js';
import { fillGrid, fillSource, layoutName, READER_LAYOUTS, type ReaderLayout, readerGrid, readerSource, readerUnits } from './routines/reader.js';
import { setUpWebGPU } from './routines/webgpu_setup.js';

process.env.BENCH_SHAPE ??= '2.8b';
const formats = (process.argv[2] ?? 'float16,int4').split(',');
await setUpWebGPU();
const device = (tf.backend() as unknown as WebGPUBackend).device;
if (!device.features.has('timestamp-query')) throw new Error('roofline: the device has no timestamp-query');
const lines: string[] = [];
const log = (line: string) => { console.log(line); lines.push(line); };
const sink = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
/** Copies of a read alone that overflow the L2 (50 MB on an H100 or H200) together. */
const ROTATED_BYTES = 256e6;

/** Bytes of tensors as the kernels bind them: every one has 4-byte elements (float32, or int32 words of halves or codes). */
function tensorBytes(tensors: readonly tf.Tensor[]): number {
  for (const t of tensors) if (t.dtype !== 'float32' && t.dtype !== 'int32') throw new Error(`roofline: a ${t.dtype} tensor among the bound weights`);
  return tensors.reduce((sum, t) => sum + 4 * t.size, 0);
}

const matrixBytes = (binding: WeightBinding) => tensorBytes(matrixOf(binding)?.tensors ?? []);

/**
 * The bytes each of the step's dispatches (by kind, in order) reads from memory: its weights, biases
 * and states. A layer's dispatches are counted from its in_proj; a state step folds dt_proj unless a
 * dt_proj dispatch came before it in the layer.
 */
function dispatchBytes(model: MambaForCausalLM, cache: MambaCache, kinds: string[]): number[] {
  const { blocks, normF } = model.backbone;
  let layer = -1;
  let dtApart = false;
  const mixer = () => blocks[layer].mixer;
  /** The conv step's weight, bias and window: in_proj's output stage, or a dispatch of its own. */
  const convBytes = () => {
    const { conv1d } = mixer();
    return tensorBytes([conv1d.weight.read(), ...(conv1d.bias ? [conv1d.bias.read()] : []), cache.convStates[layer]]);
  };
  return kinds.map((kind) => {
    switch (kind) {
      case 'norm': return tensorBytes([(layer + 1 < blocks.length ? blocks[layer + 1].norm : normF).weight.read()]);
      case 'in_proj': {
        layer++;
        dtApart = false;
        return matrixBytes(mixer().inProj.binding()) + tensorBytes([blocks[layer].norm.weight.read()]) + convBytes();
      }
      case 'conv': return convBytes();
      case 'x_proj': return matrixBytes(mixer().xProj.binding());
      case 'dt_proj': dtApart = true; return matrixBytes(mixer().dtProj.binding());
      case 'ssm': {
        const m = mixer();
        return (dtApart ? 0 : matrixBytes(m.dtProj.binding())) + tensorBytes([m.dtProj.bias!.read(), m.A_log.read(), m.D.read(), cache.ssmStates[layer]]);
      }
      case 'out_proj': return matrixBytes(mixer().outProj.binding());
      case 'head': return matrixBytes(model.lmHead.binding());
      case 'choice': return 4 * model.config.vocabSize;
      default: throw new Error(`roofline: no bytes known for a '${kind}' dispatch`);
    }
  });
}

/** A buffer of `bytes` (whole units) filled on the device. */
function filledBuffer(bytes: number): GPUBuffer {
  const units = readerUnits(bytes);
  const buffer = device.createBuffer({ size: 16 * units, usage: GPUBufferUsage.STORAGE });
  const pipeline = computePipeline(device, fillSource(units));
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  recordDispatch(pass, { pipeline, grid: fillGrid(units), bindGroup: bindBuffers(device, pipeline, [buffer]) });
  pass.end();
  device.queue.submit([encoder.finish()]);
  return buffer;
}

/** A read of `buffer` (`bytes`) in `layout`, as a dispatch. */
function reader(buffer: GPUBuffer, bytes: number, layout: ReaderLayout): RecordedDispatch {
  const units = readerUnits(bytes);
  const pipeline = computePipeline(device, readerSource(units, layout, false));
  return { pipeline, grid: readerGrid(units, layout), bindGroup: bindBuffers(device, pipeline, [buffer, sink]) };
}

/** Us a read of `bytes` takes alone in each layout, fastest first: dispatches over copies that overflow the L2, in one pass. */
async function readsAlone(bytes: number): Promise<[ReaderLayout, number][]> {
  const copies = Array.from({ length: Math.max(1, Math.min(64, Math.ceil(ROTATED_BYTES / bytes))) }, () => filledBuffer(bytes));
  const repeats = Math.max(copies.length, Math.min(200, Math.ceil(2e9 / bytes)));
  const passes = READER_LAYOUTS.map((layout) => Array.from({ length: repeats }, (_, r) => reader(copies[r % copies.length], bytes, layout)));
  await warmClocks(device, passes[0]);
  const times: [ReaderLayout, number][] = [];
  for (const [i, pass] of passes.entries()) times.push([READER_LAYOUTS[i], (await stampedSteps(device, pass, 3, false)).passes / repeats]);
  copies.forEach((c) => c.destroy());
  return times.sort((a, b) => a[1] - b[1]);
}

/**
 * Ms of GPU time a pass of `step` takes: the median of 30 passes between timestamps, each its own
 * submission, after the clocks are up. Not the span from the first pass to the last (decoderStepGpuMs):
 * a pass shorter than the host's recording and submitting of it leaves the GPU idle between passes,
 * which a span counts (the empty chain and int4's readers read 1.13 and 1.22 ms so on an H100).
 */
async function passMs(step: RecordedDispatch[]): Promise<number> {
  await warmClocks(device, step);
  return (await stampedSteps(device, step, 30, true)).passes / 1000;
}

const MB = (bytes: number) => (bytes / 1e6).toFixed(bytes < 1e6 ? 3 : 1);

for (const format of formats) {
  const model = await benchModel(format, 'roofline');
  const { cache, decoder } = await warmGreedyDecoder(model, 1);
  const { step } = greedyStepDispatches(decoder);
  const decoderMs = await passMs(step);
  const kinds = step.map((d) => d.name);
  const kindSet = [...new Set(kinds)];
  const count = (kind: string) => kinds.filter((k) => k === kind).length;
  const { whole, without } = await passLeavingOut(device, step, kindSet.map((k) => [k]));
  const inPlace = new Map(kindSet.map((k, i) => [k, (whole - without[i]) / count(k)]));
  const bytes = dispatchBytes(model, cache, kinds);
  const total = bytes.reduce((a, b) => a + b, 0);

  log(`\n## ${process.env.BENCH_SHAPE} ${format}, batch 1: the decoder's step against dispatches that only read`);
  log('\n| kind | dispatches a step | MB each (the largest) | the decoder in place, us a dispatch | fastest reader alone: layout, us (GB/s) | second | third |');
  log('|---|---:|---:|---:|---:|---:|---:|');
  const alone = new Map<number, [ReaderLayout, number][]>();
  for (const size of new Set(bytes)) alone.set(size, await readsAlone(size));
  for (const kind of kindSet) {
    const largest = Math.max(...bytes.filter((_, i) => kinds[i] === kind));
    const times = alone.get(largest)!;
    const cell = ([layout, us]: [ReaderLayout, number]) => `${layoutName(layout)}, ${us.toFixed(2)} (${(largest / us / 1e3).toFixed(0)})`;
    log(`| ${kind} | ${count(kind)} | ${MB(largest)} | ${inPlace.get(kind)!.toFixed(2)} | ${times.slice(0, 3).map(cell).join(' | ')} |`);
  }

  // each dispatch its own buffer, as each layer its own weights
  const buffers = bytes.map((b) => filledBuffer(b));
  const readers = buffers.map((buffer, i) => reader(buffer, bytes[i], alone.get(bytes[i])![0][0]));
  const empties = buffers.map((buffer) => reader(buffer, 16, { threads: 32, unitsInFlight: 1, sweeps: 1 }));
  const readersMs = await passMs(readers);
  const emptyMs = await passMs(empties);
  buffers.forEach((b) => b.destroy());
  cache.dispose();
  model.dispose();

  const rate = (ms: number) => (1000 / ms).toFixed(1);
  log(`\n| step (${step.length} dispatches, ${MB(total)} MB read) | ms | tok/s | GB/s of the bytes above |`);
  log('|---|---:|---:|---:|');
  log(`| the decoder (greedy, ids on the GPU) | ${decoderMs.toFixed(3)} | ${rate(decoderMs)} | ${(total / decoderMs / 1e6).toFixed(0)} |`);
  log(`| readers only (each its size's fastest layout) | ${readersMs.toFixed(3)} | ${rate(readersMs)} | ${(total / readersMs / 1e6).toFixed(0)} |`);
  log(`| empty dispatches (a unit each) | ${emptyMs.toFixed(3)} | ${rate(emptyMs)} | |`);
}
sink.destroy();
if (process.env.OUT) await writeFile(`${process.env.OUT}/roofline.md`, `${lines.join('\n')}\n`);
process.exit(0);
