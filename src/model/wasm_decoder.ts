/**
 * Decoding on wasm as one pass of our own modules per token: the op-by-op step runs ~540 tfjs ops a
 * token at 130m, each with the engine's bookkeeping, which cost as much as a tenth of the step.
 * Here a token is straight calls on tfjs-backend-wasm's heap, in HF's order:
 *   h = embedding[id]
 *   per layer:  x = rmsnorm(h) w;  xz = in_proj(x);  conv step (silu) on xz's first half;
 *               (dt, B, C) = x_proj;  dt = dt_proj(dt);  state step (softplus(dt + bias), D, silu(z));
 *               h = h + out_proj(y)
 *   logits = lm_head(rmsnorm(h) w_f)
 * The projections and the state step are the kernels the op path runs (linear_rows.wat, the scan
 * with seq = 1), the LM head on every thread; the norms and the conv step are loops over heap views.
 * The cache's states are the decoder's own copies, updated in place, as the WebGPU decoder keeps them.
 * Float32 weights and batch 1 only: anything else keeps the op-by-op path, with the reason.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { causalConv1dUpdateImpl } from '../../custom-kernels/shared/causal_conv1d_update.js';
import { heapBytes, heapOffset } from '../../custom-kernels/wasm/heap_module.js';
import { linearRowsModule, scanModule } from '../../custom-kernels/wasm/heap_modules.js';
import { runSplit } from '../../custom-kernels/wasm/heap_pool.js';
import type { WeightBinding } from '../weights/linear_weight.js';
import type { MambaCache } from './cache.js';
import type { MambaForCausalLM } from './causal_lm.js';

/** The scan's flags (selective_scan.wat): softplus, D, z, deltaBias and an initial state. */
const STATE_STEP_FLAGS = 1 | 2 | 4 | 8 | 16;
/** Multiply-adds below which a projection stays on this thread (the pool's wake-up costs more). */
const MIN_PART_WORK = 1 << 22;

interface Bindable { binding(): WeightBinding }

/** A module's float32 matrix (the embeddings' own for a tied head); wasmUnfusable checked the kind. */
function matrix(module: Bindable): tf.Tensor {
  const binding = module.binding();
  if (binding.kind !== 'float32') throw new Error(`WasmDecoder: a ${binding.kind} weight`);
  return binding.tensors[0];
}

/** Why the wasm decoder cannot decode this model with this cache, or null where it can. */
export function wasmUnfusable(model: MambaForCausalLM, cache: MambaCache): string | null {
  if (cache.batchSize !== 1) return `the batch is ${cache.batchSize}, not 1`;
  if (model.config.stateSize % 4 !== 0) return `the state size (${model.config.stateSize}) is not a multiple of 4`;
  if (model.config.convKernel > 4 || model.config.convKernel < 1) return `the conv kernel (${model.config.convKernel}) is not 1 to 4 taps`;
  const { backbone, lmHead } = model;
  const weights: [string, Bindable][] = [['backbone.embeddings', backbone.embeddings], ['lm_head', lmHead]];
  backbone.blocks.forEach((block, i) => {
    const m = block.mixer;
    for (const [name, p] of [['in_proj', m.inProj], ['x_proj', m.xProj], ['dt_proj', m.dtProj], ['out_proj', m.outProj]] as const) {
      weights.push([`backbone.layers.${i}.mixer.${name}`, p]);
    }
  });
  const adapted = backbone.blocks.findIndex((block) => block.mixer.conv1d.adapter?.active);
  if (adapted >= 0) return `backbone.layers.${adapted}.mixer.conv1d: it carries a LoRA adapter that is not merged`;
  for (const [path, module] of weights) {
    const binding = module.binding();
    if (binding.kind === 'unfusable') return `${path}: ${binding.reason}`;
    if (binding.kind !== 'float32') return `${path}: its weight is ${binding.kind}, not float32`;
  }
  return null;
}

/**
 * The decoder for `cache`, made on first use and kept on the cache (disposed with it); null where
 * the wasm path does not apply: the caller takes the op-by-op path.
 */
export function wasmDecoderFor(model: MambaForCausalLM, cache: MambaCache): WasmDecoder | null {
  if (tf.getBackend() !== 'wasm' || cache.isDisposed || wasmUnfusable(model, cache) != null) return null;
  let decoder = cache.fusedDecoder instanceof WasmDecoder ? cache.fusedDecoder : null;
  if (decoder == null || decoder.model !== model) {
    cache.fusedDecoder?.dispose();
    decoder = new WasmDecoder(model, cache);
    cache.fusedDecoder = decoder;
  }
  return decoder;
}

/** Scratch between the steps of a token, as tensors on the heap: their byte offsets are stable. */
type Scratch = Record<'h' | 'normed' | 'xz' | 'conv' | 'xBC' | 'dt' | 'y' | 'delta', tf.Tensor>;

export class WasmDecoder {
  private readonly scratch: Scratch;
  private owned: tf.DataId[] = [];
  private disposed = false;

  constructor(readonly model: MambaForCausalLM, readonly cache: MambaCache) {
    const c = model.config;
    const I = c.intermediateSize;
    const zeros = (n: number) => tf.keep(tf.zeros([n]));
    this.scratch = {
      h: zeros(c.hiddenSize), normed: zeros(c.hiddenSize), xz: zeros(2 * I), conv: zeros(I),
      xBC: zeros(c.timeStepRank + 2 * c.stateSize), dt: zeros(I), y: zeros(I), delta: zeros(c.hiddenSize),
    };
  }

  /** One id through the cache: the next logits [1, vocab], as decodeStep returns them. */
  step(ids: readonly number[]): tf.Tensor2D {
    if (this.disposed) throw new Error('WasmDecoder: used after its cache was disposed');
    const c = this.model.config;
    if (ids.length !== 1) throw new Error(`cache was made for batch 1, got ${ids.length} ids`);
    const [id] = ids;
    if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new RangeError(`input id ${id} at row 0 is outside [0, ${c.vocabSize})`);
    this.ownStates();
    const backend = tf.backend() as BackendWasm;
    const logits = backend.makeOutput([1, c.vocabSize], 'float32');
    // views after the last allocation of the step: a growth of the memory detaches earlier ones
    const heap = new Float32Array(heapBytes(backend).buffer);
    const at = (t: tf.TensorInfo) => heapOffset(backend, t);
    const view = (t: tf.TensorInfo, length = t.shape.reduce((a, b) => a * b, 1)) => heap.subarray(at(t) / 4, at(t) / 4 + length);
    const s = this.scratch;
    const H = c.hiddenSize, I = c.intermediateSize, R = c.timeStepRank, N = c.stateSize, K = c.convKernel;
    const linearRows = linearRowsModule.on(backend)!, scan = scanModule.on(backend)!;
    /** y = x W^T (+ bias), one row, W [out, in]. */
    const project = (x: tf.TensorInfo, weight: tf.Tensor, bias: tf.Tensor | null | undefined, y: tf.TensorInfo) => {
      const [out, inFeatures] = weight.shape;
      const pointers = [at(x), at(weight), bias == null ? 0 : at(bias), at(y)];
      runSplit(backend, linearRowsModule, linearRows, { from: 0, to: out, multiple: 16, minimum: Math.ceil(MIN_PART_WORK / inFeatures) },
        (o0, o1) => [...pointers, 1, inFeatures, out, bias == null ? 0 : 1, o0, o1]);
    };
    const { embeddings, blocks, normF } = this.model.backbone;

    const h = view(s.h);
    h.set(view(matrix(embeddings)).subarray(id * H, (id + 1) * H));
    blocks.forEach((block, i) => {
      const m = block.mixer;
      // 1. norm, in_proj
      rmsNorm(h, view(block.norm.weight.read()), block.norm.eps, view(s.normed));
      project(s.normed, matrix(m.inProj), m.inProj.bias?.read(), s.xz);
      // 2. the conv window shifted by one input, silu
      const state = view(this.cache.convStates[i]);
      causalConv1dUpdateImpl(state, view(s.xz, I), view(m.conv1d.weight.read()),
        m.conv1d.bias == null ? EMPTY : view(m.conv1d.bias.read()), [1, I, K], 'silu', view(s.conv), state);
      // 3. x_proj -> (dt, B, C); dt_proj without its bias (the state step adds it before the softplus)
      project(s.conv, matrix(m.xProj), null, s.xBC);
      project(s.xBC, matrix(m.dtProj), null, s.dt);
      // 4. one state update, in place; y = (<h, C> + D x) silu(z)
      const ssm = at(this.cache.ssmStates[i]);
      scan(at(s.conv), at(s.dt), at(this.cache.negExpA(i, m.A_log.read())), at(s.xBC) + 4 * R, at(s.xBC) + 4 * (R + N),
        at(m.D.read()), at(s.xz) + 4 * I, at(m.dtProj.bias!.read()), ssm, at(s.y), ssm,
        1, 1, I, N, STATE_STEP_FLAGS, 0, I);
      // 5. out_proj, and the residual
      project(s.y, matrix(m.outProj), m.outProj.bias?.read(), s.delta);
      const delta = view(s.delta);
      for (let j = 0; j < H; j++) h[j] += delta[j];
    });
    rmsNorm(h, view(normF.weight.read()), normF.eps, view(s.normed));
    project(s.normed, matrix(this.model.lmHead), null, logits);
    this.cache.seqLen += 1;
    return tf.engine().makeTensorFromTensorInfo(logits) as tf.Tensor2D;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose(Object.values(this.scratch));
  }

  /**
   * Makes the cache's states tensors only this decoder holds, so that updating them in place changes
   * nothing anyone else sees: a state another pass produced is copied once.
   */
  private ownStates(): void {
    const owned = new Set(this.owned);
    const { convStates, ssmStates } = this.cache;
    for (let i = 0; i < this.cache.shape.numLayers; i++) {
      if (!owned.has(convStates[i].dataId)) this.cache.updateConvState(i, tf.tidy(() => tf.add(convStates[i], 0)));
      if (!owned.has(ssmStates[i].dataId)) this.cache.updateSsmState(i, tf.tidy(() => tf.add(ssmStates[i], 0)));
    }
    this.owned = [...convStates, ...ssmStates].map((t) => t.dataId);
  }
}

const EMPTY = new Float32Array(0);

/** y = x rsqrt(mean(x^2) + eps) w over one row (sums in float64; stored in float32). */
function rmsNorm(x: Float32Array, w: Float32Array, eps: number, y: Float32Array): void {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i] * x[i];
  const r = 1 / Math.sqrt(sum / x.length + eps);
  for (let i = 0; i < x.length; i++) y[i] = x[i] * r * w[i];
}
