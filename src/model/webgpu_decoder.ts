/**
 * Decoding on WebGPU as one submission per token: tfjs records each op as its own dispatch with a
 * fresh bind group and uniforms, about 25 per layer, so a token of mamba-130m costs ~550 dispatches
 * and host time bounds it. Here each layer is four dispatches (in_proj with the conv step as its
 * output stage, x_proj, state step with dt_proj, out_proj adding to the residual stream and leaving the
 * next layer's norm nearly done: h * gamma and partial sums of h^2, which in_proj finishes; a fifth to
 * seventh where the batch or the device's storage buffers per stage leave the norm to in_proj's input
 * or to a dispatch of its own (normPlacement), or leave the conv step or a packed dt_proj in the state
 * step no room: each then runs on its own; the four depend on each other, and the one branch that does
 * not, in_proj's z half, was tried in x_proj's dispatch and lost on an H100 at every format and batch:
 * its read costs its bytes wherever it runs, bench/results/h200-2026-12-05.md, calls 78 to 81) over
 * bind groups made once, recorded in one compute pass with the embedding, the final norm and the LM
 * head, and the logits come back as a tfjs tensor for generation's processors and sampling.
 * The cache's state tensors are the decoder's own copies, updated in place; a forward pass that
 * replaces them (a longer prompt continuing the cache) is picked up at the next step. Each weight is
 * read as its module's `binding()` says (float32, float16 halves or int8/int4 codes decoded in the kernels); a module
 * that cannot be bound (an adapter that is on) keeps the step on the op-by-op path, with the reason.
 * For greedy generation (src/generation/device_tokens.ts) the step can also take its ids from the
 * device: `startGreedy` / `stepFromDevice` end the pass with the greedy choice, written into the ids
 * buffer the next step reads, and read the chosen ids back through a pool of mappable buffers
 * without holding up the steps recorded after them.
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { convLoadsAhead, convStepKernel, convStepOutput } from '../../custom-kernels/webgpu/decode/conv_step.js';
import { greedyChoiceKernel } from '../../custom-kernels/webgpu/decode/greedy_choice.js';
import {
  MATVEC_MAX_BATCH, matvecBindingCount, matvecFoldsNorm, matvecGroups, matvecKernel, matvecTakesPartials, type MatvecDims, type MatvecOutput,
} from '../../custom-kernels/webgpu/decode/matvec.js';
import { ACCUMULATE_OUTPUT, NORM_AHEAD_OUTPUT } from '../../custom-kernels/webgpu/decode/residual_output.js';
import { bindBuffers, type DecodeKernel } from '../../custom-kernels/webgpu/decode/pipeline.js';
import { rmsNormStepKernel } from '../../custom-kernels/webgpu/decode/rms_norm_step.js';
import { ssmStepFoldsDtProj, ssmStepKernel } from '../../custom-kernels/webgpu/decode/ssm_step.js';
import type { WeightSource } from '../../custom-kernels/webgpu/decode/weight_source.js';
import { NON_FINITE_ID } from '../generation/chosen_ids.js';
import type { DeviceGreedyDecoder, DeviceGreedyRules } from '../generation/device_tokens.js';
import { parameters } from '../layers/module.js';
import type { MambaMixer } from '../layers/mixer.js';
import { PassTimer } from '../webgpu/pass_timer.js';
import { ReadbackPool } from '../webgpu/readback_pool.js';
import { type RecordedDispatch, recordDispatch } from '../webgpu/streamed_submission.js';
import { copyIntoNewTensor, dropReadValues, flushTfjs, gpuBufferOf } from '../webgpu/tfjs_buffers.js';
import type { WeightBinding } from '../weights/linear_weight.js';
import { checkBindable } from '../weights/memory_budget.js';
import type { MambaCache } from './cache.js';
import type { MambaForCausalLM } from './causal_lm.js';
import { firstUnbound } from './fused_weights.js';

/** A weight matrix as the kernels read it: its tensors in binding order, and how they are laid out. */
export interface Matrix {
  tensors: tf.Tensor[];
  source: WeightSource;
}

/** The matrix a binding gives the kernels; null where the module cannot be bound. */
export function matrixOf(binding: WeightBinding): Matrix | null {
  if (binding.kind === 'unfusable') return null;
  const source: WeightSource = binding.kind === 'packed' ? binding.layout
    : binding.kind === 'float16' ? 'float16' : null;
  return { tensors: binding.tensors, source };
}

/**
 * Batches up to which in_proj norms its x itself rather than after the norm's own dispatch, where its
 * threads' sums stay few enough too (matvecFoldsNorm: float32 2.8b up to batch 4, float16 and int8 up to 2, int4 never):
 * each workgroup sums the squares of every x row it reads (over vec4 units from the products' own
 * loads; over scalar units, odd widths, from a read of its own) and takes x * gamma into its products,
 * work that grows with the rows while the dispatch saved stays.
 */
export const NORM_IN_PROJ_MAX_BATCH = 4;

/**
 * Batches up to which a norm may run ahead in the out_proj before (normPlacement). Its squares reduce
 * with in_proj's sums, B more values a thread, and out_proj's workgroups sum theirs: at 130m and batch
 * 8 on an H100 the GPU's step went from 1.18 to 1.24 ms against the norm's own dispatch
 * (bench/results/h200-2026-12-05.md, call 43). Batches 2 to 4 untimed.
 */
export const NORM_AHEAD_MAX_BATCH = 1;

/** Where a layer's norm runs: ahead in the out_proj before (`ahead` partial sums a row), in in_proj, or as a dispatch of its own. */
export type NormPlacement = { ahead: number } | 'in_proj' | 'dispatch';

/**
 * Where the norm of a layer after the first runs, for its in_proj (`inProj`, through `convOutput`) and
 * the out_proj before it (`before`): the first of these the storage buffers and the threads allow.
 * Ahead, in that out_proj, which writes h * gamma and each workgroup's partial sums of h^2 that in_proj
 * scales its sums by, up to NORM_AHEAD_MAX_BATCH (matvecTakesPartials: a few loads a thread); in in_proj, x normed on the way in, up
 * to NORM_IN_PROJ_MAX_BATCH where its threads keep few sums; else a dispatch of its own.
 */
export function normPlacement(device: GPUDevice, inProj: MatvecDims, convOutput: MatvecOutput | undefined, before: MatvecDims): NormPlacement {
  const fits = (dims: MatvecDims, output: MatvecOutput | undefined, normed: boolean) =>
    matvecBindingCount(dims.weight, dims.hasBias, output, normed) <= device.limits.maxStorageBuffersPerShaderStage;
  const partials = matvecGroups(device, { ...before, output: NORM_AHEAD_OUTPUT });
  if (inProj.batch <= NORM_AHEAD_MAX_BATCH && fits(before, NORM_AHEAD_OUTPUT, false) && fits(inProj, convOutput, true)
    && matvecTakesPartials(device, inProj, partials)) return { ahead: partials };
  return inProj.batch <= NORM_IN_PROJ_MAX_BATCH && matvecFoldsNorm(device, inProj) && fits(inProj, convOutput, true) ? 'in_proj' : 'dispatch';
}

/** One dispatch of the token's pass. */
interface Dispatch extends RecordedDispatch {
  /** What it computes, for timings: 'norm', 'in_proj', 'conv', 'x_proj', 'dt_proj', 'ssm', 'out_proj', 'head', 'choice'. */
  name: string;
}

/** `kernel` over `buffers` in binding order, as the pass records it. */
function dispatchOf(device: GPUDevice, name: string, { pipeline, grid }: DecodeKernel, buffers: GPUBuffer[]): Dispatch {
  return { name, pipeline, grid, bindGroup: bindBuffers(device, pipeline, buffers) };
}

/**
 * The decoder for `cache`, made on first use and kept on the cache (disposed with it); null where
 * the fused path does not apply (another backend, an adapter that is on, a batch over 64): the
 * caller takes the op-by-op path, which handles all of those.
 */
export function webgpuDecoderFor(model: MambaForCausalLM, cache: MambaCache): WebGPUDecoder | null {
  // Asked at every step: an adapter applied between steps changes no weight the decoder would notice.
  if (tf.getBackend() !== 'webgpu' || cache.isDisposed || WebGPUDecoder.unfusable(model, cache) != null) return null;
  return cache.fusedDecoderFor(WebGPUDecoder, model, () => new WebGPUDecoder(model, cache));
}

/** A greedy generation on the device: its rules, how many tokens were chosen, the choice's dispatches over `logits`. */
interface GreedyRun {
  rules: DeviceGreedyRules;
  chosenSoFar: number;
  /** The choice over the decoder's own logits buffer, with and without eos held back, made once each. */
  choices: Map<boolean, Dispatch>;
}

export class WebGPUDecoder implements DeviceGreedyDecoder {
  private readonly backend: WebGPUBackend;
  private readonly device: GPUDevice;
  private readonly batch: number;
  /** Scratch between kernels: ids, residual stream, normed (where the norm runs on its own, and for the
   * head), in_proj output, x_proj output, dt_proj output (where it runs as its own matvec), y; for
   * greedy generation on the device, the ids chosen (copied out for reading) and which rows finished. */
  private readonly scratch: Record<'ids' | 'h' | 'normed' | 'xz' | 'xBC' | 'dt' | 'y' | 'chosen' | 'finished', GPUBuffer>;
  /** Each x row's partial sums of h^2 from out_proj's workgroups, for the next in_proj (where a norm runs ahead; partialsFor). */
  private partials: GPUBuffer | null = null;
  /** stepFromDevice's logits [batch, vocab], made on its first step (the host's step returns a tensor instead). */
  private deviceLogits: GPUBuffer | null = null;
  /** The LM head over deviceLogits, for the head it was bound with. */
  private deviceHead: { for: WebGPUDecoder['head']; dispatch: Dispatch } | null = null;
  /** The greedy generation stepFromDevice continues; null until startGreedy, and after a step with host ids. */
  private greedy: GreedyRun | null = null;
  private readonly readback: ReadbackPool;
  /** The layers' dispatches and the final norm, rebuilt when a weight or a state tensor changes. */
  private dispatches: Dispatch[] = [];
  /** The LM head's kernel and its weight's buffers; the logits buffer joins them each step. */
  private head: { kernel: DecodeKernel; weight: GPUBuffer[] } | null = null;
  private boundTo: tf.DataId[] = [];
  /** boundTo as a set, made when it changes (not at every step: ~60 us a token at 64 layers on a CI-class CPU). */
  private boundSet = new Set<tf.DataId>();
  private disposed = false;

  /** Why the fused path cannot decode this model with this cache, or null where it can. */
  static unfusable(model: MambaForCausalLM, cache: MambaCache): string | null {
    if (cache.batchSize > MATVEC_MAX_BATCH) return `the batch (${cache.batchSize}) is over ${MATVEC_MAX_BATCH}`;
    return firstUnbound(model);
  }

  static supports(model: MambaForCausalLM, cache: MambaCache): boolean {
    return WebGPUDecoder.unfusable(model, cache) == null;
  }

  constructor(readonly model: MambaForCausalLM, readonly cache: MambaCache) {
    const c = model.config;
    cache.checkMadeFor(c);
    this.backend = tf.backend() as WebGPUBackend;
    this.device = this.backend.device;
    this.batch = cache.batchSize;
    const B = this.batch;
    const buffer = (elements: number) => this.buffer(elements);
    this.scratch = {
      ids: buffer(B), h: buffer(B * c.hiddenSize), normed: buffer(B * c.hiddenSize),
      xz: buffer(B * 2 * c.intermediateSize), xBC: buffer(B * (c.timeStepRank + 2 * c.stateSize)),
      dt: buffer(B * c.intermediateSize), y: buffer(B * c.intermediateSize),
      chosen: this.buffer(B, GPUBufferUsage.COPY_SRC), finished: buffer(B),
    };
    this.readback = new ReadbackPool(this.device, 4 * B);
  }

  /** ids [batch] through the cache: the next logits [batch, vocab], as decodeStep returns them. */
  step(ids: readonly number[]): tf.Tensor2D {
    const { logits, dispatches } = this.prepare(ids);
    const encoder = this.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const d of dispatches) recordDispatch(pass, d);
    pass.end();
    this.device.queue.submit([encoder.finish()]);
    this.cache.seqLen += 1;
    return tf.engine().makeTensorFromTensorInfo(logits) as tf.Tensor2D;
  }

  /**
   * Greedy generation on the device, new token 0: chooses from `logits` [batch, vocab] (the prompt's;
   * they may be disposed once this returns) into the ids buffer, under `rules` (eos/pad, min_new_tokens,
   * greedy_choice.ts). Resolves to the chosen ids once read back (NON_FINITE_ID where a row's logits
   * held NaN/Inf); stepFromDevice continues from them.
   */
  startGreedy(logits: tf.Tensor2D, rules: DeviceGreedyRules): Promise<Int32Array> {
    this.checkAlive();
    const expected = [this.batch, this.model.config.vocabSize];
    if (!tf.util.arraysEqual(logits.shape, expected) || logits.dtype !== 'float32') {
      throw new Error(`startGreedy: logits must be float32 [${expected}], got ${logits.dtype} [${logits.shape}]`);
    }
    const run: GreedyRun = { rules: { ...rules, eosTokenIds: [...rules.eosTokenIds] }, chosenSoFar: 0, choices: new Map() };
    this.greedy = run;
    const choice = this.choice(run, this.gpuBuffer(logits));
    this.flushTfjs();   // after the upload, should the logits still have been in JS
    this.device.queue.writeBuffer(this.scratch.finished, 0, new Int32Array(this.batch));
    return this.submitChoice([choice]);
  }

  /**
   * One step from the ids the last greedy choice left in the ids buffer, recorded at once without
   * reading them, ending with the choice of the next token; resolves to its ids once read back.
   */
  stepFromDevice(): Promise<Int32Array> {
    this.checkAlive();
    const run = this.greedy;
    if (run == null) {
      throw new Error('stepFromDevice: no ids chosen on the device to continue from: startGreedy chooses the first '
        + '(a step with ids from the host, step(ids), ends a greedy run)');
    }
    // Asked at every step, as webgpuDecoderFor asks for the host's steps: an adapter applied or unmerged
    // during the generation cannot be bound, and the steps ahead are already on the device.
    const why = WebGPUDecoder.unfusable(this.model, this.cache);
    if (why != null) {
      throw new Error(`stepFromDevice: the model changed during a greedy generation decoded on the device and the fused decoder `
        + `cannot run it any more (${why}); change adapters (applyLora, unmergeLora, disableAdapters) between generations`);
    }
    const dispatches = this.prepareStep();
    const logits = this.deviceLogits ??= this.buffer(this.batch * this.model.config.vocabSize);
    if (this.deviceHead?.for !== this.head) {
      const { kernel, weight } = this.head!;
      this.deviceHead = { for: this.head, dispatch: dispatchOf(this.device, 'head', kernel, [...weight, this.scratch.normed, logits]) };
    }
    const suppress = this.suppressesEos(run);
    let choice = run.choices.get(suppress);
    if (choice == null) run.choices.set(suppress, choice = this.choice(run, logits));
    const read = this.submitChoice([...dispatches, this.deviceHead.dispatch, choice]);
    this.cache.seqLen += 1;
    return read;
  }

  /**
   * A step as `step` takes it, with each dispatch in a pass of its own between GPU timestamps:
   * microseconds per kind of dispatch, summed over layers, and its count. Needs the 'timestamp-query' feature.
   */
  async timeStep(ids: readonly number[]): Promise<Map<string, { micros: number; calls: number }>> {
    if (!this.device.features.has('timestamp-query')) throw new Error('timeStep: the device has no timestamp-query');
    const { logits, dispatches } = this.prepare(ids);
    const timer = new PassTimer(this.device, dispatches.length);
    const encoder = this.device.createCommandEncoder();
    dispatches.forEach((d) => timer.pass(encoder, d.name, (pass) => recordDispatch(pass, d)));
    timer.resolve(encoder);
    this.device.queue.submit([encoder.finish()]);
    this.cache.seqLen += 1;
    const byKind = await timer.read();
    this.backend.disposeData(logits.dataId);
    return byKind;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const b of Object.values(this.scratch)) b.destroy();
    this.deviceLogits?.destroy();
    this.partials?.destroy();
    this.readback.dispose();
    this.dispatches = [];
    this.deviceHead = null;
    this.greedy = null;
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('WebGPUDecoder: used after its cache was disposed');
  }

  /** A float32/int32 storage buffer of `elements` words that the queue can write. */
  private buffer(elements: number, extraUsage = 0): GPUBuffer {
    return this.device.createBuffer({
      size: Math.max(4, elements * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | extraUsage,
    });
  }

  /** Eos ids are held back at the token about to be chosen (min_new_tokens). */
  private suppressesEos(run: GreedyRun): boolean {
    return run.chosenSoFar < run.rules.minNewTokens && run.rules.eosTokenIds.length > 0;
  }

  /** The greedy choice over `logits`, for the token about to be chosen. */
  private choice(run: GreedyRun, logits: GPUBuffer): Dispatch {
    const { eosTokenIds, padTokenId } = run.rules;
    const kernel = greedyChoiceKernel(this.device, {
      batch: this.batch, vocab: this.model.config.vocabSize, eosTokenIds, padTokenId,
      suppressEos: this.suppressesEos(run), nonFiniteId: NON_FINITE_ID,
    });
    const s = this.scratch;
    return dispatchOf(this.device, 'choice', kernel, [logits, s.finished, s.ids, s.chosen]);
  }

  /** Records `dispatches` (ending with a choice) in one pass and the copy of the chosen ids, submits: their read. */
  private submitChoice(dispatches: Dispatch[]): Promise<Int32Array> {
    const encoder = this.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const d of dispatches) recordDispatch(pass, d);
    pass.end();
    const read = this.readback.record(encoder, this.scratch.chosen);
    this.device.queue.submit([encoder.finish()]);
    this.greedy!.chosenSoFar += 1;
    return read();
  }

  /** Takes the states over, follows weight changes, flushes tfjs' pending work: the layers' dispatches. */
  private prepareStep(): Dispatch[] {
    this.ownStates();
    // The step writes the states in place: a read of one since (which tfjs keeps) must not be returned after it.
    dropReadValues(this.backend, this.cache.convStates);
    dropReadValues(this.backend, this.cache.ssmStates);
    this.rebindIfChanged();
    this.flushTfjs();
    return this.dispatches;
  }

  /** Work tfjs recorded but has not submitted (the prefill that filled the cache) goes first. */
  private flushTfjs(): void {
    flushTfjs(this.backend);
  }

  /** Checks ids, takes the states over, flushes tfjs' pending work; the token's dispatches and its logits. */
  private prepare(ids: readonly number[]): { logits: tf.TensorInfo; dispatches: Dispatch[] } {
    this.checkAlive();
    const { vocabSize } = this.model.config;
    if (ids.length !== this.batch) {
      throw new Error(`cache was made for batch ${this.batch}, got ${ids.length} ids`);
    }
    ids.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new RangeError(`input id ${id} at row ${i} is outside [0, ${vocabSize})`);
      }
    });
    const dispatches = this.prepareStep();
    this.greedy = null;   // the ids buffer now holds the host's ids
    this.device.queue.writeBuffer(this.scratch.ids, 0, Int32Array.from(ids));

    const logits = this.backend.makeTensorInfo([this.batch, vocabSize], 'float32');
    this.backend.uploadToGPU(logits.dataId);   // no values: just takes a buffer from tfjs' pool
    const { kernel, weight } = this.head!;
    const head = dispatchOf(this.device, 'head', kernel, [...weight, this.scratch.normed, this.gpuBuffer(logits)]);
    return { logits, dispatches: [...dispatches, head] };
  }

  /**
   * Makes the cache's states tensors that only this decoder holds, so that updating them in place
   * changes nothing anyone else can see: a state another pass produced is copied once, by raw buffer
   * copies in a submission of their own (48 tfjs ops at 130m cost ~5 ms on Dawn).
   */
  private ownStates(): void {
    const bound = this.boundSet;
    const { cache, backend } = this;
    // (at every step: nothing to do, and nothing made, while the decoder's own copies are in the cache)
    if (cache.convStates.every((t) => bound.has(t.dataId)) && cache.ssmStates.every((t) => bound.has(t.dataId))) return;
    const stale = [...cache.convStates.map((t, i) => ({ t, i, conv: true })), ...cache.ssmStates.map((t, i) => ({ t, i, conv: false }))]
      .filter(({ t }) => !bound.has(t.dataId));
    const sources = stale.map(({ t }) => gpuBufferOf(backend, t));
    flushTfjs(backend);   // after the uploads; whatever wrote the states goes first
    const encoder = this.device.createCommandEncoder();
    const copies = stale.map(({ t }, j) => copyIntoNewTensor(backend, encoder, sources[j], t.shape));
    this.device.queue.submit([encoder.finish()]);
    stale.forEach(({ i, conv }, j) => (conv ? cache.updateConvState(i, copies[j]) : cache.updateSsmState(i, copies[j])));
  }

  /**
   * Everything the dispatches read or write, in a fixed order: every parameter of the model tree, walked
   * at each step (an assignment changes a variable's data, toFloat16 and quantize replace variables),
   * and the states.
   */
  private boundTensors(): tf.Tensor[] {
    const tensors: tf.Tensor[] = [];
    for (const v of parameters(this.model)) tensors.push(v.read());
    tensors.push(...this.cache.convStates, ...this.cache.ssmStates);
    return tensors;
  }

  private rebindIfChanged(): void {
    const tensors = this.boundTensors();
    if (tensors.length === this.boundTo.length && tensors.every((t, i) => t.dataId === this.boundTo[i])) return;
    const ids = tensors.map((t) => t.dataId);
    this.dispatches = this.bind();
    this.boundTo = ids;
    this.boundSet = new Set(ids);
  }

  private bind(): Dispatch[] {
    const c = this.model.config;
    checkBindable(this.model.namedLayerVariables(), 'this model');
    const { device, scratch: s } = this;
    const B = this.batch, H = c.hiddenSize, DI = c.intermediateSize, R = c.timeStepRank;
    const buf = (t: tf.Tensor) => this.gpuBuffer(t);
    const bufs = (m: Matrix) => m.tensors.map(buf);
    const dispatch = (name: string, kernel: DecodeKernel, buffers: GPUBuffer[]) => dispatchOf(device, name, kernel, buffers);
    const eps = c.layerNormEpsilon;
    const norm = (source: { embed: WeightSource; vocab: number } | 'residual') => rmsNormStepKernel(device, { batch: B, hidden: H, eps, source });
    /** A projection as the matvec reads it (x rows `xRowStride` apart), and its buffers around x: the weight's, the bias'. */
    const projection = (p: MambaMixer['inProj'], xRowStride: number, addBias = true) => {
      const matrix = matrixOf(p.binding())!;
      const [outFeatures, inFeatures] = p.weight.shape;
      const bias = addBias ? p.bias?.read() : undefined;
      const dims: MatvecDims = { batch: B, inFeatures, outFeatures, xRowStride, hasBias: bias != null, weight: matrix.source };
      return { dims, weights: bufs(matrix), bias: bias == null ? [] : [buf(bias)] };
    };
    /**
     * y = x W^T (+ bias); through `output` where given, binding `outputBuffers` after y; with `norm`, x normed
     * on the way in: by its buffer, the norm's weight, or with `partials`, the partial sums of squares in it.
     */
    const project = (name: string, { dims, weights, bias }: ReturnType<typeof projection>, x: GPUBuffer, y: GPUBuffer,
      { output, outputBuffers = [], norm: normIn }: { output?: MatvecOutput; outputBuffers?: GPUBuffer[]; norm?: { buffer: GPUBuffer; partials?: number } } = {}): Dispatch => {
      const kernel = matvecKernel(device, { ...dims, output, norm: normIn ? { eps, partials: normIn.partials } : undefined });
      return dispatch(name, kernel, [...weights, x, ...bias, y, ...outputBuffers, ...(normIn ? [normIn.buffer] : [])]);
    };
    const storageLimit = device.limits.maxStorageBuffersPerShaderStage;

    const embedding = matrixOf(this.model.backbone.embeddings.binding())!;
    const headWeight = matrixOf(this.model.lmHead.binding())!;
    this.head = {
      kernel: matvecKernel(device, {
        batch: B, inFeatures: H, outFeatures: c.vocabSize, xRowStride: H, hasBias: false, weight: headWeight.source,
      }),
      weight: bufs(headWeight),
    };
    const { blocks, normF } = this.model.backbone;
    const layers = blocks.map((block, i) => {
      const m: MambaMixer = block.mixer;
      // The conv step is in_proj's output stage where the device has the storage buffers; else a dispatch of its own.
      const convBias = m.conv1d.bias?.read();
      const conv = { dInner: DI, convKernel: c.convKernel, hasBias: convBias != null };
      const convBuffers = [buf(m.conv1d.weight.read()), ...(convBias == null ? [] : [buf(convBias)]), buf(this.cache.convStates[i])];
      const inProj = projection(m.inProj, H);
      const convStage = convStepOutput(conv, convLoadsAhead(inProj.dims.weight, inProj.dims.batch));
      const convOutput = matvecBindingCount(inProj.dims.weight, inProj.dims.hasBias, convStage) <= storageLimit ? convStage : undefined;
      return { m, gamma: buf(block.norm.weight.read()), conv, convBuffers, convOutput, inProj, outProj: projection(m.outProj, DI) };
    });
    // (layer 0's norm is the embedding rows' dispatch)
    const norms = layers.map(({ inProj, convOutput }, i) => (i === 0 ? 'dispatch' : normPlacement(device, inProj.dims, convOutput, layers[i - 1].outProj.dims)));
    const partials = this.partialsFor(Math.max(0, ...norms.map((n) => (typeof n === 'object' ? n.ahead : 0))));
    const dispatches: Dispatch[] = [];
    layers.forEach(({ m, gamma, conv, convBuffers, convOutput, inProj, outProj }, i) => {
      const normIn = norms[i];
      // The token's h: the embedding rows, normed; later, out_proj has added to h (and normed it ahead).
      if (i === 0) dispatches.push(dispatch('norm', norm({ embed: embedding.source, vocab: c.vocabSize }), [s.ids, ...bufs(embedding), gamma, s.h, s.normed]));
      else if (normIn === 'dispatch') dispatches.push(dispatch('norm', norm('residual'), [gamma, s.h, s.normed]));
      dispatches.push(project('in_proj', inProj, normIn === 'in_proj' ? s.h : s.normed, s.xz, {
        output: convOutput, outputBuffers: convOutput ? convBuffers : [],
        norm: normIn === 'in_proj' ? { buffer: gamma } : typeof normIn === 'object' ? { buffer: partials!, partials: normIn.ahead } : undefined,
      }));
      if (convOutput == null) dispatches.push(dispatch('conv', convStepKernel(device, { batch: B, ...conv }), [s.xz, ...convBuffers]));
      dispatches.push(project('x_proj', projection(m.xProj, 2 * DI), s.xz, s.xBC));
      // dt_proj is fused into the state step where the device has the storage buffers for its weight;
      // else (a packed one under WebGPU's default 8) it runs as its own matvec first.
      const dtMatrix = matrixOf(m.dtProj.binding())!;
      const dtFolded = ssmStepFoldsDtProj(device, dtMatrix.source);
      // Without its bias: the state step adds it before the softplus.
      if (!dtFolded) dispatches.push(project('dt_proj', projection(m.dtProj, R + 2 * c.stateSize, false), s.xBC, s.dt));
      dispatches.push(dispatch('ssm',
        ssmStepKernel(device, { batch: B, dInner: DI, dState: c.stateSize, timeStepRank: R, dtProj: dtFolded ? dtMatrix.source : 'given' }),
        [s.xBC, s.xz, ...(dtFolded ? bufs(dtMatrix) : [s.dt]), buf(m.dtProj.bias!.read()), buf(m.A_log.read()),
          buf(m.D.read()), buf(this.cache.ssmStates[i]), s.y]));
      const next = norms[i + 1];
      dispatches.push(typeof next === 'object'
        ? project('out_proj', outProj, s.y, s.h, { output: NORM_AHEAD_OUTPUT, outputBuffers: [s.normed, layers[i + 1].gamma, partials!] })
        : project('out_proj', outProj, s.y, s.h, { output: ACCUMULATE_OUTPUT }));
    });
    dispatches.push(dispatch('norm', norm('residual'), [buf(normF.weight.read()), s.h, s.normed]));
    return dispatches;
  }

  /** The partial sums of squares buffer for `perRow` partial sums an x row (null for none), kept while large enough. */
  private partialsFor(perRow: number): GPUBuffer | null {
    if (perRow === 0) return null;
    const elements = this.batch * perRow;
    if (this.partials == null || this.partials.size < 4 * elements) {
      this.partials?.destroy();
      this.partials = this.buffer(elements);
    }
    return this.partials;
  }

  private gpuBuffer(t: tf.TensorInfo): GPUBuffer {
    return gpuBufferOf(this.backend, t);
  }
}

