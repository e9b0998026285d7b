/**
 * A prompt through the model on WebGPU as a few raw dispatches per layer: tfjs records each op of
 * the op path (about 25 a layer) with a fresh bind group and uniforms, so at 130m a prompt costs
 * the same ~75 ms at 128 tokens as at 2048, host time. Here each layer is
 * - the norm (adding the layer before's out_proj, or the parts of its split K, to the residual stream);
 * - in_proj (tiled GEMM, gemm/gemm.ts; where K is split and there is no bias, the conv and the scan
 *   add its parts as they read x and z);
 * - the conv (CausalConv1d.ts, leaving the conv window as a side output);
 * - x_proj and dt_proj (GEMMs, dt_proj reading x_proj's output in place);
 * - the chunked scan (SelectiveScan.ts' programs, B, C and the gate read in place, the last chunk's
 *   walk leaving the state: 1 dispatch up to one chunk, 3 above; one more for the state where the
 *   device binds too few storage buffers);
 * - out_proj (GEMM; where its K is split, the next norm adds the parts and no reduction runs);
 * over pipelines and bind groups made once per model, batch and chunk length, recorded in one compute pass;
 * the LM head (the decoder's matvec) runs on the last position only. The flat programs run through
 * flat_kernel.ts, so the WGSL is the one tfjs runs on the op path.
 *
 * The cache's states are copied into buffers of the prefiller's own before the pass and out into
 * new tensors after it, which replace the cache's (as the op path replaces them), so the bind groups
 * never change with the cache. A prompt longer than the scratch holds (MAX_ROWS rows of batch x
 * tokens) runs in chunks, each continuing the states the one before left. Each projection is read as
 * its module's `binding()` says: float32, float16 or packed int8/int4 weights (the GEMM decodes codes as
 * it loads its tiles); an adapter that is on, a batch over the head's 64 keep the op path, with the
 * reason (WebGPUPrefiller.unfusable).
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { CausalConv1dProgram } from '../../custom-kernels/webgpu/CausalConv1d.js';
import { MATVEC_MAX_BATCH, matvecKernel } from '../../custom-kernels/webgpu/decode/matvec.js';
import { bindBuffers } from '../../custom-kernels/webgpu/decode/pipeline.js';
import { type RmsNormStepDims, rmsNormStepKernel } from '../../custom-kernels/webgpu/decode/rms_norm_step.js';
import { type FlatKernel, flatBindGroup, flatKernel, flatStorageBindings, flatUniforms } from '../../custom-kernels/webgpu/flat_kernel.js';
import { chooseSplitK, chooseTile, gemmBindGroup, gemmKernel, gemmReduceKernel, type GemmWeight } from '../../custom-kernels/webgpu/gemm/gemm.js';
import type { FlatProgram } from '../../custom-kernels/webgpu/program.js';
import { ChunkChainProgram, ChunkEndProgram, ScanOutputProgram } from '../../custom-kernels/webgpu/SelectiveScan.js';
import { ScanParams } from '../../custom-kernels/webgpu/scan_params.js';
import { chunkLength, type ScanDims, scanTuning } from '../../custom-kernels/webgpu/scan_walk.js';
import type { Linear } from '../layers/linear.js';
import { parameters } from '../layers/module.js';
import { copyIntoNewTensor, emptyGpuTensor, flushTfjs, gpuBufferOf } from '../webgpu/tfjs_buffers.js';
import { PassTimer } from '../webgpu/pass_timer.js';
import { recordDispatch, StreamedSubmission } from '../webgpu/streamed_submission.js';
import type { WeightBinding } from '../weights/linear_weight.js';
import { checkBindable } from '../weights/memory_budget.js';
import type { MambaCache } from './cache.js';
import type { MambaForCausalLM } from './causal_lm.js';
import { firstUnbound, PROJECTIONS } from './fused_weights.js';
import { matrixOf } from './webgpu_decoder.js';

/**
 * Dispatches a submission holds: the GPU starts on the first layers while the host records the
 * rest (StreamedSubmission). About four layers at 130m.
 */
const SUBMIT_EVERY = 48;

/**
 * Rows (batch x tokens) one pass holds in scratch, fewer where in_proj's output would not fit the
 * device's binding size: longer prompts run in chunks of rows / batch tokens. The scratch is sized to
 * the longest chunk seen: at 4,096 rows ~170 MB at 130m, ~720 MB at 2.8b.
 */
export const MAX_ROWS = 4096;

/** Plans (bind groups for one batch and chunk length) kept per prefiller; the oldest goes first. */
const MAX_PLANS = 8;

/** Why the prefill cannot run `batch` rows (the head's matvec takes MATVEC_MAX_BATCH), or null where it can. */
function batchRefusal(batch: number): string | null {
  return batch > MATVEC_MAX_BATCH ? `the batch (${batch}) is over ${MATVEC_MAX_BATCH}` : null;
}

/** One dispatch of a pass. */
interface Dispatch {
  /** What it computes, for timings: 'norm', 'in_proj', 'conv', 'x_proj', 'dt_proj', 'scan', 'out_proj', 'head'. */
  name: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  grid: [number, number];
}

/**
 * Chunks of `tokens` tokens at `batch`: the flat programs' uniform buffers (which depend on the shape
 * only), and the dispatches over them, null once a weight, a scratch or a state buffer they bind was replaced.
 */
interface Plan {
  batch: number;
  tokens: number;
  dispatches: Dispatch[] | null;
  uniformBuffers: GPUBuffer[];
}

/**
 * The model's prefiller, for prompts of `batch` rows: one for every batch, kept on the model
 * (`model.fusedPrefiller`, disposed with it); null where the op path must run.
 */
export function webgpuPrefillerFor(model: MambaForCausalLM, batch: number): WebGPUPrefiller | null {
  if (tf.getBackend() !== 'webgpu' || WebGPUPrefiller.unfusable(model, batch) != null) return null;
  return model.fusedPrefiller ??= new WebGPUPrefiller(model);
}

export class WebGPUPrefiller {
  private readonly backend: WebGPUBackend;
  private readonly device: GPUDevice;
  /** Scratch between the kernels, by name, grown as longer chunks come (which unbinds the plans). */
  private readonly scratch = new Map<string, GPUBuffer>();
  /** Per layer: the states copied in from the cache, and those the pass leaves, for `statesBatch` rows (grown as larger batches come). */
  private states: Record<'convIn' | 'convOut' | 'ssmIn' | 'ssmOut', GPUBuffer[]> = { convIn: [], convOut: [], ssmIn: [], ssmOut: [] };
  private statesBatch = 0;
  /** By batch, chunk length and the scan's tuning (which sets the chunking its uniforms hold). */
  private plans = new Map<string, Plan>();
  /** Per layer, A (read as -exp(A_log)), D and dt_proj's bias as the scan programs read them: packed or bound. */
  private layerScans: ScanParams[] = [];
  /** The head's kernel by batch, over the last positions' normed rows, the logits buffer joining each call. */
  private heads = new Map<number, { kernel: ReturnType<typeof matvecKernel>; weight: GPUBuffer[] }>();
  private boundTo: tf.DataId[] = [];
  private disposed = false;

  /** Why the fused prefill cannot run this model at this batch, or null where it can. */
  static unfusable(model: MambaForCausalLM, batch: number): string | null {
    return batchRefusal(batch) ?? firstUnbound(model);
  }

  constructor(readonly model: MambaForCausalLM) {
    checkBindable(model.namedLayerVariables(), 'this model');
    this.backend = tf.backend() as WebGPUBackend;
    this.device = this.backend.device;
  }

  /**
   * ids [batch, seq] through the model, continuing `cache` (zeros before a prefill), which is left as
   * the op path leaves it: the last position's logits [batch, vocab].
   */
  lastLogits(inputIds: tf.Tensor2D, cache: MambaCache): tf.Tensor2D {
    return this.run(inputIds, cache, null);
  }

  /**
   * lastLogits with each dispatch in a pass of its own between GPU timestamps: microseconds per kind
   * of dispatch, summed over layers (and passes). Needs the 'timestamp-query' feature.
   */
  async timeLastLogits(inputIds: tf.Tensor2D, cache: MambaCache): Promise<{ logits: tf.Tensor2D; micros: Map<string, number> }> {
    if (!this.device.features.has('timestamp-query')) throw new Error('timeLastLogits: the device has no timestamp-query');
    const timing: Timing = {};
    const logits = this.run(inputIds, cache, timing);
    const kinds = await timing.timer!.read();
    const micros = new Map([...kinds].map(([name, { micros: us }]) => [name, us]));
    return { logits, micros };
  }

  private run(inputIds: tf.Tensor2D, cache: MambaCache, timing: Timing | null): tf.Tensor2D {
    if (this.disposed) throw new Error('WebGPUPrefiller: used after dispose()');
    const c = this.model.config;
    cache.checkMadeFor(c);
    const [batch, seq] = inputIds.shape;
    const refused = batchRefusal(batch);
    if (refused != null) throw new Error(`WebGPUPrefiller: ${refused}`);
    if (cache.batchSize !== batch) throw new Error(`WebGPUPrefiller: ids of batch ${batch} and a cache of batch ${cache.batchSize}`);
    this.followWeights();
    this.reserveStates(batch);
    // in_proj's output is the widest scratch (2 x intermediate per row): it must fit one binding. (Its
    // split-K slabs come only where rows x outputs leave under 264 workgroups: a few MB at most.)
    const { maxStorageBufferBindingSize, maxBufferSize } = this.device.limits;
    const rows = Math.min(MAX_ROWS, Math.floor(Math.min(maxStorageBufferBindingSize, maxBufferSize) / (8 * c.intermediateSize)));
    const tokensPerChunk = Math.max(1, Math.floor(rows / batch));
    const chunks: [number, number][] = [];
    for (let start = 0; start < seq; start += tokensPerChunk) chunks.push([start, Math.min(seq, start + tokensPerChunk)]);
    // Scratch first, for every chunk length: growing it unbinds the plans, which are then all bound over the new buffers.
    for (const [start, end] of chunks.slice(-2)) this.reserve(batch, end - start);
    const plans = chunks.map(([start, end]) => this.plan(batch, end - start));

    const { backend, device, states } = this;
    // (the head is the one dispatch past the plans')
    const timer = timing == null ? null : (timing.timer = new PassTimer(device, plans.reduce((n, p) => n + p.dispatches.length, 0) + 1));
    // Uploads first (tfjs may record them in its own encoder), then tfjs' pending work is submitted ahead of ours.
    const ids = gpuBufferOf(backend, inputIds);
    // As the op path: the conv continues the cached window (zeros where the cache has not made its own: cleared
    // here), the scan starts from zeros until the cache is filled.
    const cachedConv = cache.hasConvStates ? cache.convStates.map((t) => gpuBufferOf(backend, t)) : null;
    const cachedSsm = cache.isFilled ? cache.ssmStates.map((t) => gpuBufferOf(backend, t)) : null;
    flushTfjs(backend);
    const H = c.hiddenSize;
    const convBytes = 4 * batch * c.intermediateSize * c.convKernel, ssmBytes = 4 * batch * c.intermediateSize * c.stateSize;
    // Timed: one submission, a pass per dispatch between timestamps. Else submitted as recorded.
    const stream = new StreamedSubmission(device, timer == null ? SUBMIT_EVERY : Infinity);
    const record = (dispatches: Dispatch[]) => {
      if (timer == null) dispatches.forEach((d) => stream.dispatch(d));
      else dispatches.forEach((d) => timer.pass(stream.commands, d.name, (pass) => recordDispatch(pass, d)));
    };
    const copyStates = (from: GPUBuffer[], to: GPUBuffer[], bytes: number) =>
      from.forEach((f, i) => stream.commands.copyBufferToBuffer(f, 0, to[i], 0, bytes));
    if (cachedConv != null) copyStates(cachedConv, states.convIn, convBytes);
    else states.convIn.forEach((b) => stream.commands.clearBuffer(b));
    if (cachedSsm != null) copyStates(cachedSsm, states.ssmIn, ssmBytes);
    else states.ssmIn.forEach((b) => stream.commands.clearBuffer(b));
    const s = (name: string) => this.scratch.get(name)!;
    chunks.forEach(([start, end], k) => {
      const L = end - start;
      const encoder = stream.commands;
      if (chunks.length === 1) encoder.copyBufferToBuffer(ids, 0, s('ids'), 0, 4 * batch * seq);
      else for (let b = 0; b < batch; b++) encoder.copyBufferToBuffer(ids, 4 * (b * seq + start), s('ids'), 4 * b * L, 4 * L);
      if (k > 0) {
        copyStates(states.convOut, states.convIn, convBytes);
        copyStates(states.ssmOut, states.ssmIn, ssmBytes);
      }
      record(plans[k].dispatches);
    });
    const L = chunks[chunks.length - 1][1] - chunks[chunks.length - 1][0];
    for (let b = 0; b < batch; b++) stream.commands.copyBufferToBuffer(s('normed'), 4 * (b * L + L - 1) * H, s('last'), 4 * b * H, 4 * H);

    const logits = emptyGpuTensor(backend, [batch, c.vocabSize]);
    const { kernel, weight } = this.head(batch);
    record([{
      name: 'head', pipeline: kernel.pipeline, grid: kernel.grid, bindGroup: bindBuffers(device, kernel.pipeline, [...weight, s('last'), logits.buffer]),
    }]);
    const encoder = stream.commands;
    timer?.resolve(encoder);
    const convStates = states.convOut.map((b) => copyIntoNewTensor(backend, encoder, b, cache.convShape));
    const ssmStates = states.ssmOut.map((b) => copyIntoNewTensor(backend, encoder, b, cache.ssmShape));
    stream.finish();
    convStates.forEach((t, i) => cache.updateConvState(i, t));
    ssmStates.forEach((t, i) => cache.updateSsmState(i, t));
    cache.seqLen += seq;
    return tf.engine().makeTensorFromTensorInfo(logits.info) as tf.Tensor2D;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.dropPlans();
    this.dropLayerScans();
    for (const b of this.scratch.values()) b.destroy();
    this.scratch.clear();
    this.destroyStates();
  }

  /** A float32/int32 storage buffer of `elements` words. */
  private buffer(elements: number): GPUBuffer {
    return this.device.createBuffer({
      size: Math.max(16, elements * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
    });
  }

  /** The states for `batch` rows: grown where smaller, which unbinds every plan (they bind the old buffers). */
  private reserveStates(batch: number): void {
    if (batch <= this.statesBatch) return;
    const c = this.model.config;
    this.unbindPlans();
    this.destroyStates();
    const layerBuffers = (elements: number) => Array.from({ length: c.numHiddenLayers }, () => this.buffer(elements));
    const conv = batch * c.intermediateSize * c.convKernel, ssm = batch * c.intermediateSize * c.stateSize;
    this.states = { convIn: layerBuffers(conv), convOut: layerBuffers(conv), ssmIn: layerBuffers(ssm), ssmOut: layerBuffers(ssm) };
    this.statesBatch = batch;
  }

  private destroyStates(): void {
    for (const list of Object.values(this.states)) list.forEach((b) => b.destroy());
    this.states = { convIn: [], convOut: [], ssmIn: [], ssmOut: [] };
    this.statesBatch = 0;
  }

  /** Scratch for chunks of up to `tokens` tokens at batch B; a buffer grown unbinds every plan (they bind the old one). */
  private reserve(B: number, tokens: number): void {
    const c = this.model.config;
    const rows = B * tokens;
    const H = c.hiddenSize, DI = c.intermediateSize, N = c.stateSize, R = c.timeStepRank;
    // The scan's chunk count is largest at the shortest chunks it takes.
    const scanChunks = Math.ceil(tokens / scanTuning.minChunk);
    // a projection's slabs where K is split, as project() splits it (every layer's are the first's shapes):
    // in 'partials' (any), or in xz (in_proj's, which the conv and the scan add)
    const { mixer } = this.model.backbone.blocks[0];
    const slabs = (key: typeof PROJECTIONS[number][1]) => {
      const [outFeatures, inFeatures] = mixer[key].weight.shape;
      const tile = chooseTile(this.device, rows, outFeatures, gemmWeight(fusable(mixer[key].binding())));
      return chooseSplitK(rows, outFeatures, inFeatures, tile) * rows * outFeatures;
    };
    const sizes: Record<string, number> = {
      ids: rows, h: rows * H, normed: rows * H, delta: rows * H, last: B * H,
      xz: slabs('inProj'), u: rows * DI, xBC: rows * (R + 2 * N), dt: rows * DI, y: rows * DI,
      ends: B * scanChunks * DI * (N + 1), starts: B * scanChunks * DI * N, partials: Math.max(...PROJECTIONS.map(([, key]) => slabs(key))),
    };
    for (const [name, elements] of Object.entries(sizes)) {
      const old = this.scratch.get(name);
      if (old != null && old.size >= elements * 4) continue;
      this.unbindPlans();
      old?.destroy();
      this.scratch.set(name, this.buffer(elements));
    }
  }

  private unbindPlans(): void {
    for (const plan of this.plans.values()) plan.dispatches = null;
  }

  private dropPlans(): void {
    for (const plan of this.plans.values()) plan.uniformBuffers.forEach((b) => b.destroy());
    this.plans.clear();
  }

  private dropLayerScans(): void {
    for (const params of this.layerScans) params.dispose(this.backend);
    this.layerScans = [];
  }

  /**
   * Unbinds what was bound to weights that were assigned or replaced since (toFloat16 swaps a module's
   * variables): the tree is walked each call, as the prefiller lives as long as the model.
   */
  private followWeights(): void {
    const ids = parameters(this.model).map((v) => v.read().dataId);
    if (ids.length === this.boundTo.length && ids.every((id, i) => id === this.boundTo[i])) return;
    this.unbindPlans();
    this.dropLayerScans();
    this.heads.clear();
    this.boundTo = ids;
  }

  /** The LM head's matvec over `batch` last positions, made on first use after a weight change. */
  private head(batch: number): { kernel: ReturnType<typeof matvecKernel>; weight: GPUBuffer[] } {
    let head = this.heads.get(batch);
    if (head == null) {
      const c = this.model.config;
      const headWeight = matrixOf(this.model.lmHead.binding())!;
      head = {
        kernel: matvecKernel(this.device, {
          batch, inFeatures: c.hiddenSize, outFeatures: c.vocabSize, xRowStride: c.hiddenSize, hasBias: false, weight: headWeight.source,
        }),
        weight: headWeight.tensors.map((t) => gpuBufferOf(this.backend, t)),
      };
      this.heads.set(batch, head);
    }
    return head;
  }

  /** The plan for chunks of `tokens` tokens at `batch`, made on first use, bound again after a weight, scratch or state change. */
  private plan(batch: number, tokens: number): Plan & { dispatches: Dispatch[] } {
    const key = `${batch} ${tokens} ${Object.values(scanTuning).join(' ')}`;
    let plan = this.plans.get(key);
    if (plan != null) {
      // Most recently used last, so the first is the one to drop.
      this.plans.delete(key);
    } else {
      if (this.plans.size >= MAX_PLANS) {
        const [oldest, old] = this.plans.entries().next().value!;
        old.uniformBuffers.forEach((b) => b.destroy());
        this.plans.delete(oldest);
      }
      plan = { batch, tokens, dispatches: null, uniformBuffers: [] };
    }
    this.plans.set(key, plan);
    plan.dispatches ??= this.bind(plan);
    return plan as Plan & { dispatches: Dispatch[] };
  }

  /** The dispatches for `plan`'s length over the weights and scratch as they are, making its uniform buffers on first use. */
  private bind(plan: Plan): Dispatch[] {
    const { model, device, backend } = this;
    const B = plan.batch, L = plan.tokens;
    const c = model.config;
    const H = c.hiddenSize, DI = c.intermediateSize, N = c.stateSize, R = c.timeStepRank, K = c.convKernel;
    const M = B * L;
    const buf = (t: tf.TensorInfo) => gpuBufferOf(backend, t);
    const s = (name: string) => this.scratch.get(name)!;
    const dispatches: Dispatch[] = [];
    let flats = 0;
    const flat = (name: string, program: FlatProgram, buffers: Record<string, GPUBuffer>) => {
      const kernel: FlatKernel = flatKernel(device, program);
      // The same programs in the same order for a length: the k-th flat dispatch's uniforms are the k-th buffer.
      const uniforms = plan.uniformBuffers[flats] ??= flatUniforms(device, kernel);
      flats += 1;
      dispatches.push({ name, pipeline: kernel.pipeline, bindGroup: flatBindGroup(device, kernel, buffers, uniforms), grid: kernel.grid });
    };
    const sized = (buffer: GPUBuffer, floats: number) => ({ buffer, size: 4 * floats });
    /**
     * y = x W^T (+ bias), x rows `xRowStride` apart; K split in parts where M x N gives few workgroups
     * (gemm.ts), which a reduction adds unless `parts` says who does: 'norm', the norm after it (out_proj:
     * the parts stay in 'partials'); 'readers', the kernels reading y (in_proj without a bias: the parts
     * are y's slabs). Returns how y was left.
     */
    const project = (name: string, p: Linear, x: GPUBuffer, y: GPUBuffer,
      { bias = true, xRowStride, parts: addedBy = 'reduction' }:
      { bias?: boolean; xRowStride?: number; parts?: 'reduction' | 'norm' | 'readers' } = {}): ProjectionOutput => {
      const binding = fusable(p.binding());
      const [outFeatures, inFeatures] = p.weight.shape;
      const b = bias ? p.bias?.read() : undefined;
      const weight = gemmWeight(binding);
      const tile = chooseTile(device, M, outFeatures, weight);
      const splitK = chooseSplitK(M, outFeatures, inFeatures, tile);
      const kernel = gemmKernel(device, { outFeatures, inFeatures, hasBias: b != null && splitK === 1, weight, xRowStride, tile, splitK });
      const weights = binding.tensors.map(buf);
      if (splitK === 1) {
        const bindGroup = gemmBindGroup(device, kernel, M, { x, weight: weights, bias: b == null ? null : buf(b), y });
        dispatches.push({ name, pipeline: kernel.pipeline, bindGroup, grid: kernel.grid(M) });
        return { source: 'add', buffers: [y] };
      }
      if (addedBy === 'readers' && b == null) {
        dispatches.push({ name, pipeline: kernel.pipeline, bindGroup: gemmBindGroup(device, kernel, M, { x, weight: weights, y }), grid: kernel.grid(M) });
        return { source: { parts: splitK, bias: false }, buffers: [y] };
      }
      const partials = s('partials');
      dispatches.push({ name, pipeline: kernel.pipeline, bindGroup: gemmBindGroup(device, kernel, M, { x, weight: weights, y: partials }), grid: kernel.grid(M) });
      const parts = [sized(partials, splitK * M * outFeatures), ...(b == null ? [] : [sized(buf(b), outFeatures)])];
      if (addedBy === 'norm') return { source: { parts: splitK, bias: b != null }, buffers: parts };
      const reduce = gemmReduceKernel(device, { outFeatures, splitK, hasBias: b != null });
      dispatches.push({ name, pipeline: reduce.pipeline, bindGroup: bindBuffers(device, reduce.pipeline, [...parts, sized(y, M * outFeatures)]), grid: reduce.grid(M) });
      return { source: 'add', buffers: [y] };
    };
    const norm = ({ source, buffers }: NormInput, gamma: GPUBuffer) => {
      const kernel = rmsNormStepKernel(device, { batch: M, hidden: H, eps: c.layerNormEpsilon, source });
      dispatches.push({ name: 'norm', pipeline: kernel.pipeline, bindGroup: bindBuffers(device, kernel.pipeline, [...buffers, gamma, s('h'), s('normed')]), grid: kernel.grid });
    };

    const embedding = matrixOf(model.backbone.embeddings.binding())!;
    if (this.layerScans.length === 0) {
      this.layerScans = model.backbone.blocks.map(({ mixer: m }) =>
        new ScanParams(backend, m.A_log.read(), m.D.read(), m.dtProj.bias!.read(), { aIsLog: true }));
    }
    const { blocks, normF } = model.backbone;
    const st = this.states;
    const dims: ScanDims = {
      batch: B, seq: L, dInner: DI, dState: N,
      layout: { bStride: R + 2 * N, bOffset: R, cStride: R + 2 * N, cOffset: R + N, zStride: 2 * DI, zOffset: DI },
    };
    const chunkLen = chunkLength(dims);
    const scanChunks = Math.ceil(L / chunkLen);
    /** What the next norm adds to h: the layer before's out_proj, as y or as its split-K parts. */
    let mixerOut: ProjectionOutput | null = null;
    blocks.forEach((block, i) => {
      const m = block.mixer;
      const gamma = buf(block.norm.weight.read());
      norm(i === 0 ? { source: { embed: embedding.source, vocab: c.vocabSize }, buffers: [s('ids'), ...embedding.tensors.map(buf)] } : mixerOut!, gamma);
      // in_proj's output, or the parts of its split K that the conv and the scan add as they read x and z
      const xz = project('in_proj', m.inProj, s('normed'), s('xz'), { parts: 'readers' });
      const xzParts = xz.source === 'add' ? 1 : xz.source.parts;
      // The conv reads x in place (the first half of in_proj's rows), continuing the cached window, and leaves the new one.
      const convBias = m.conv1d.bias?.read();
      flat('conv', new CausalConv1dProgram([B, L, DI], K, convBias != null, 'silu', { xRowStride: 2 * DI, past: true, window: true, xParts: xzParts }), {
        x: s('xz'), weight: buf(m.conv1d.weight.read()), ...(convBias != null && { bias: buf(convBias) }), past: st.convIn[i],
        window: st.convOut[i], result: s('u'),
      });
      project('x_proj', m.xProj, s('u'), s('xBC'));
      // Without its bias: the scan adds it before the softplus.
      project('dt_proj', m.dtProj, s('xBC'), s('dt'), { bias: false, xRowStride: R + 2 * N });

      // The scan as SelectiveScan.ts' scanForward runs it, from the cached state.
      const params = this.layerScans[i];
      const use = params.use(['a', 'skip', 'bias']);
      const paramBuffers: Record<string, GPUBuffer> = Object.fromEntries(use.names.map((name, j) => [name, buf(use.tensors[j])]));
      const walk = { u: s('u'), delta: s('dt'), bmat: s('xBC'), ...paramBuffers };
      const chain = { ends: s('ends'), ...paramBuffers, initial: st.ssmIn[i] };
      let starts = st.ssmIn[i];
      if (scanChunks > 1) {
        flat('scan', new ChunkEndProgram(dims, params, chunkLen, true, false, true), { ...walk, result: s('ends') });
        flat('scan', new ChunkChainProgram(dims, params, scanChunks, true, false), { ...chain, result: s('starts') });
        starts = s('starts');
      }
      // y, and from the last chunk's walk the state the prompt leaves, where the device binds one buffer more
      const output = new ScanOutputProgram(dims, params, chunkLen, true, true, true, [B, L, DI], { writesLast: true, zParts: xzParts });
      const out = { ...walk, cmat: s('xBC'), z: s('xz'), start: starts, result: s('y') };
      if (flatStorageBindings(output) <= device.limits.maxStorageBuffersPerShaderStage) {
        flat('scan', output, { ...out, last: st.ssmOut[i] });
      } else {
        flat('scan', new ScanOutputProgram(dims, params, chunkLen, true, true, true, [B, L, DI], { zParts: xzParts }), out);
        if (scanChunks > 1) flat('scan', new ChunkChainProgram(dims, params, scanChunks, true, true), { ...chain, result: st.ssmOut[i] });
        else flat('scan', new ChunkEndProgram(dims, params, chunkLen, true, true, false), { ...walk, start: st.ssmIn[i], result: st.ssmOut[i] });
      }
      mixerOut = project('out_proj', m.outProj, s('y'), s('delta'), { parts: 'norm' });
    });
    norm(mixerOut!, buf(normF.weight.read()));
    return dispatches;
  }
}

/** Where a norm takes h from (rms_norm_step.ts' sources) and the buffers it binds for it, before gamma. */
interface NormInput {
  source: RmsNormStepDims['source'];
  buffers: (GPUBuffer | GPUBufferBinding)[];
}

/**
 * How a projection left y, as the norm after it would read it: whole ('add'), or as the parts of its
 * split K with or without the bias to add.
 */
interface ProjectionOutput extends NormInput {
  source: 'add' | { parts: number; bias: boolean };
}

/** Where run() leaves the timer of a timed run (timeLastLogits), made once the count of dispatches is known. */
interface Timing {
  timer?: PassTimer;
}

type FusableBinding = Exclude<WeightBinding, { kind: 'unfusable' }>;

/** `binding`, or an error naming why the prefill cannot bind it. */
function fusable(binding: WeightBinding): FusableBinding {
  if (binding.kind === 'unfusable') throw new Error(`WebGPUPrefiller: ${binding.reason}`);
  return binding;
}

/** The GEMM's weight format for a projection's binding. */
function gemmWeight(binding: FusableBinding): GemmWeight {
  return binding.kind === 'packed' ? binding.layout : binding.kind;
}
