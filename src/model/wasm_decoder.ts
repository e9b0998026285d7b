/**
 * Decoding on wasm as one program of our modules per token: the op-by-op step runs ~540 tfjs ops a
 * token at 130m, each with the engine's bookkeeping, and its projections ran on one thread (waking
 * another for a 1 x 768 product costs more than it saves). Here a token is a list of calls on
 * tfjs-backend-wasm's heap, in HF's order, that every thread of the heap pool runs together, each
 * its share of every call, with a barrier between calls (custom-kernels/wasm/heap_pool.ts):
 *   h = 0, delta = embedding[id]
 *   per layer:  h += delta; x = rmsnorm(h) w            residual_norm.wat
 *               xz = in_proj(x)                         linear_rows.wat, outputs shared
 *               conv step on xz's first half, silu      causal_conv1d.wat convStep, channels shared
 *               (dt, B, C) = x_proj;  dt = dt_proj(dt)  linear_rows.wat
 *               state step: softplus(dt + bias), D, silu(z)   selective_scan.wat with seq = 1, channels shared
 *               delta = out_proj(y)
 *   h += delta; logits = lm_head(rmsnorm(h) w_f)
 * The cache's states are the decoder's own copies, updated in place, as the WebGPU decoder keeps them.
 * Float32 or packed int8/int4 weights (packed_rows.wat reads the codes) and batch 1 only: anything
 * else keeps the op-by-op path, with the reason. `prefill` runs a prompt through the same cache as one
 * program too (its calls in wasm_prefill.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapBytes, heapOffset } from '../../custom-kernels/wasm/heap_module.js';
import { CONV_FLAGS, convStepModule, SCAN_FLAGS, scanModule } from '../../custom-kernels/wasm/heap_modules.js';
import { PreparedProgram, runProgram } from '../../custom-kernels/wasm/heap_pool.js';
import type { MambaRMSNorm } from '../layers/rms_norm.js';
import type { MambaCache } from './cache.js';
import type { MambaForCausalLM } from './causal_lm.js';
import { boundAs, firstUnbound } from './fused_weights.js';
import { prefillBuffers, prefillProgram, wasmPrefillUnfusable } from './wasm_prefill.js';
import {
  addProjection, addResidualNorm, type Bindable, onHeap, PART_WORK, programBuilder, STATE_STEP_FLAGS, stillBound, writeRow,
} from './wasm_program.js';

/** Why the wasm decoder cannot decode this model with this cache, or null where it can. */
export function wasmUnfusable(model: MambaForCausalLM, cache: MambaCache): string | null {
  if (cache.batchSize !== 1) return `the batch is ${cache.batchSize}, not 1`;
  if (model.config.stateSize % 4 !== 0) return `the state size (${model.config.stateSize}) is not a multiple of 4`;
  if (model.config.convKernel > 4 || model.config.convKernel < 1) return `the conv kernel (${model.config.convKernel}) is not 1 to 4 taps`;
  return firstUnbound(model, boundAs(['float32', 'packed'], 'float32 or packed int8/int4'));
}

/**
 * The decoder for `cache`, made on first use and kept on the cache (disposed with it); null where
 * the wasm path does not apply: the caller takes the op-by-op path.
 */
export function wasmDecoderFor(model: MambaForCausalLM, cache: MambaCache): WasmDecoder | null {
  if (tf.getBackend() !== 'wasm' || cache.isDisposed || wasmUnfusable(model, cache) != null) return null;
  return cache.fusedDecoderFor(WasmDecoder, model, () => new WasmDecoder(model, cache));
}

/**
 * The decoder that runs `inputIds` through `cache` as one program, where that applies (wasm, batch 1,
 * no mask, float32 projections); null otherwise.
 */
export function wasmPrefillFor(model: MambaForCausalLM, cache: MambaCache, inputIds: tf.Tensor2D, attentionMask?: tf.Tensor2D): WasmDecoder | null {
  if (attentionMask != null || inputIds.shape[0] !== 1 || tf.getBackend() !== 'wasm') return null;
  if (wasmPrefillUnfusable(model) != null) return null;
  return wasmDecoderFor(model, cache);
}

/**
 * Scratch between the steps of a token, as tensors on the heap: their byte offsets are stable.
 * The logits too, copied out to a tensor of the caller's each token, so that the token's program
 * is the same from one token to the next.
 */
type Scratch = Record<'h' | 'normed' | 'xz' | 'conv' | 'xBC' | 'dt' | 'y' | 'delta' | 'logits', tf.Tensor>;

export class WasmDecoder {
  private readonly scratch: Scratch;
  private owned: tf.DataId[] = [];
  private disposed = false;
  /** The token's program as last built, and the tensors it was built over. */
  private token: { program: PreparedProgram; used: ReadonlyMap<tf.TensorInfo, tf.DataId> } | null = null;

  constructor(readonly model: MambaForCausalLM, readonly cache: MambaCache) {
    const c = model.config;
    cache.checkMadeFor(c);   // the program writes the states in place by these sizes
    const I = c.intermediateSize;
    const zeros = (n: number) => tf.keep(tf.zeros([n]));
    this.scratch = {
      h: zeros(c.hiddenSize), normed: zeros(c.hiddenSize), xz: zeros(2 * I), conv: zeros(I),
      xBC: zeros(c.timeStepRank + 2 * c.stateSize), dt: zeros(I), y: zeros(I), delta: zeros(c.hiddenSize),
      logits: zeros(c.vocabSize),
    };
  }

  /** One id through the cache: the next logits [1, vocab], as decodeStep returns them. */
  step(ids: readonly number[]): tf.Tensor2D {
    if (this.disposed) throw new Error('WasmDecoder: used after its cache was disposed');
    const c = this.model.config;
    if (ids.length !== 1) throw new Error(`cache was made for batch 1, got ${ids.length} ids`);
    const [id] = ids;
    if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new RangeError(`input id ${id} at row 0 is outside [0, ${c.vocabSize})`);
    const statesMoved = this.ownStates();
    const backend = tf.backend() as BackendWasm;
    if (statesMoved || this.token == null || !stillBound(backend, this.token.used)) {
      const program = programBuilder(backend);
      this.addToken(program);
      this.token = { program: new PreparedProgram(program.calls), used: program.used };
    }
    // The first layer's residual: h = 0 + delta, with delta the id's embedding (exactly the row).
    const at = (t: tf.TensorInfo) => heapOffset(backend, t);
    const table = onHeap(this.model, at);
    let heap = new Float32Array(heapBytes(backend).buffer);   // (after: bringing the table over may grow the memory)
    const H = c.hiddenSize;
    heap.fill(0, at(this.scratch.h) / 4, at(this.scratch.h) / 4 + H);
    writeRow(heap, at, table, id, H, at(this.scratch.delta) / 4);
    this.token.program.run(backend);
    this.cache.seqLen += 1;
    const logits = backend.makeOutput([1, c.vocabSize], 'float32');
    heap = new Float32Array(heapBytes(backend).buffer); // makeOutput may have grown the memory
    heap.copyWithin(at(logits) / 4, at(this.scratch.logits) / 4, at(this.scratch.logits) / 4 + c.vocabSize);
    return tf.engine().makeTensorFromTensorInfo(logits) as tf.Tensor2D;
  }

  /**
   * ids [L] (L >= 1) of row 0 through the cache, continuing it: the last position's logits [1, vocab],
   * as the model's lastLogits gives them, with the cache's states advanced L steps. Float32
   * projections (wasmPrefillUnfusable names what else it needs).
   */
  prefill(ids: readonly number[]): tf.Tensor2D {
    if (this.disposed) throw new Error('WasmDecoder: used after its cache was disposed');
    const c = this.model.config;
    if (ids.length === 0) throw new Error('WasmDecoder.prefill: no ids');
    ids.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new RangeError(`input id ${id} at position ${t} is outside [0, ${c.vocabSize})`);
    });
    const why = wasmPrefillUnfusable(this.model);
    if (why != null) throw new Error(`WasmDecoder.prefill: ${why}`);
    this.ownStates();
    const backend = tf.backend() as BackendWasm;
    const buffers = prefillBuffers(this.model, ids.length);
    const logits = backend.makeOutput([1, c.vocabSize], 'float32');
    try {
      // h starts at 0 (the buffers are zeros); delta holds the embedding rows
      const at = (t: tf.TensorInfo) => heapOffset(backend, t);
      const table = onHeap(this.model, at);
      const heap = new Float32Array(heapBytes(backend).buffer);   // (after: bringing the table over may grow the memory)
      ids.forEach((id, t) => writeRow(heap, at, table, id, c.hiddenSize, at(buffers.delta) / 4 + t * c.hiddenSize));
      runProgram(backend, prefillProgram(backend, this.model, this.cache, buffers, ids.length, logits));
      this.cache.seqLen += ids.length;
      return tf.engine().makeTensorFromTensorInfo(logits) as tf.Tensor2D;
    } catch (error) {
      backend.disposeData(logits.dataId);   // (not yet a tensor: tfjs does not know it)
      throw error;
    } finally {
      tf.dispose(Object.values(buffers));
    }
  }

  /** The token's calls, in HF's order, over the weights and states as they are now. */
  private addToken(program: ReturnType<typeof programBuilder>): void {
    const c = this.model.config;
    const s = this.scratch;
    const H = c.hiddenSize, I = c.intermediateSize, R = c.timeStepRank, N = c.stateSize, K = c.convKernel;
    const { add, at, dependsOn } = program;
    /** h += delta; normed = rmsnorm(h) w */
    const residualNorm = (norm: MambaRMSNorm) => addResidualNorm(program, norm, at(s.h), at(s.delta), at(s.normed), H);
    /** y = x W^T (+ bias), W float32 or packed, its outputs shared by the threads */
    const project = (x: number, module: Bindable, bias: tf.Tensor | null | undefined, y: tf.TensorInfo) =>
      addProjection(program, x, module, bias, y);
    /**
     * Channels shared by the threads. A channel's conv step reads only its own in_proj output, and
     * its state step only its own dt (besides what earlier barriers settled): a thread runs both
     * halves of each pair over the same channels, with no barrier between them.
     */
    const channels = { from: 0, to: I, multiple: 16, minimum: Math.ceil(PART_WORK / Math.max(K, N)) };
    const zChannels = { ...channels, from: I, to: 2 * I };

    const { blocks, normF } = this.model.backbone;
    blocks.forEach((block, i) => {
      const m = block.mixer;
      // 1. residual, norm, in_proj: its z half, then its x half, which the conv step reads by channel
      residualNorm(block.norm);
      const inBias = m.inProj.bias?.read();
      addProjection(program, at(s.normed), m.inProj, inBias, s.xz, { outputs: zChannels, next: 'reads-none' });
      addProjection(program, at(s.normed), m.inProj, inBias, s.xz, { outputs: channels, next: 'reads-own-part' });
      // 2. the conv window shifted by one input, silu
      const conv = [at(this.cache.convStates[i]), at(s.xz), at(m.conv1d.weight.read()),
        m.conv1d.bias == null ? 0 : at(m.conv1d.bias.read()), at(s.conv), K, (m.conv1d.bias == null ? 0 : CONV_FLAGS.HAS_BIAS) | CONV_FLAGS.SILU];
      add(convStepModule, channels, (c0, c1) => [...conv, c0, c1]);
      // 3. x_proj -> (dt, B, C); dt_proj without its bias (the state step adds it before the softplus)
      project(at(s.conv), m.xProj, null, s.xBC);
      addProjection(program, at(s.xBC), m.dtProj, null, s.dt, { outputs: channels, next: 'reads-own-part' });
      // 4. one state update, in place; y = (<h, C> + D x) silu(z). A is the cache's -exp(A_log), made
      // again when A_log changes: the program follows A_log, so that an assignment rebuilds it.
      dependsOn(m.A_log.read());
      const ssm = at(this.cache.ssmStates[i]);
      const step = [at(s.conv), at(s.dt), at(this.cache.negExpA(i, m.A_log.read())), at(s.xBC) + 4 * R, at(s.xBC) + 4 * (R + N),
        at(m.D.read()), at(s.xz) + 4 * I, at(m.dtProj.bias!.read()), ssm, at(s.y), ssm, 1, 1, I, N, STATE_STEP_FLAGS];
      add(scanModule, channels, (c0, c1) => [...step, c0, c1]);
      // 5. out_proj (its residual is added by the next norm)
      project(at(s.y), m.outProj, m.outProj.bias?.read(), s.delta);
    });
    residualNorm(normF);
    project(at(s.normed), this.model.lmHead, null, s.logits);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose(Object.values(this.scratch));
  }

  /**
   * Makes the cache's states tensors only this decoder holds, so that updating them in place changes
   * nothing anyone else sees: a state another pass produced is copied once. True where any moved.
   */
  private ownStates(): boolean {
    const { convStates, ssmStates } = this.cache;
    const current = [...convStates, ...ssmStates].map((t) => t.dataId);
    if (current.length === this.owned.length && current.every((id, k) => id === this.owned[k])) return false;
    const owned = new Set(this.owned);
    for (let i = 0; i < this.cache.shape.numLayers; i++) {
      if (!owned.has(convStates[i].dataId)) this.cache.updateConvState(i, tf.tidy(() => tf.add(convStates[i], 0)));
      if (!owned.has(ssmStates[i].dataId)) this.cache.updateSsmState(i, tf.tidy(() => tf.add(ssmStates[i], 0)));
    }
    this.owned = [...convStates, ...ssmStates].map((t) => t.dataId);
    return true;
  }
}
