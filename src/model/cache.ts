/**
 * The recurrent state of every layer, HF's MambaCache: a decode step reads and replaces it,
 * so the cost of a token does not depend on how many came before.
 */
import * as tf from '@tensorflow/tfjs';

export interface MambaCacheShape {
  numLayers: number;
  batchSize: number;
  intermediateSize: number;
  stateSize: number;
  convKernel: number;
}

/** A decoder that steps one model through a cache of its own (src/model/webgpu_decoder.ts, wasm_decoder.ts). */
export interface FusedDecoder {
  readonly model: object;
  dispose(): void;
}

/** The model sizes a cache's states are laid out by. */
export interface CacheSizes {
  numHiddenLayers: number;
  intermediateSize: number;
  stateSize: number;
  convKernel: number;
}

export class MambaCache {
  readonly shape: MambaCacheShape;
  /** [batch, dInner, convKernel] per layer: the last convKernel conv inputs, oldest first */
  readonly convStates: tf.Tensor3D[];
  /** [batch, dInner, dState] per layer */
  readonly ssmStates: tf.Tensor3D[];
  /** Tokens consumed since the last reset. */
  seqLen = 0;
  private disposed = false;
  /** A = -exp(A_log) per layer for decode steps, with the A_log data it came from. */
  private readonly negExpAs = new Map<number, { source: object; A: tf.Tensor }>();
  /** The fused decoder working on this cache (webgpu's or wasm's), with what it holds; disposed with it. */
  fusedDecoder: FusedDecoder | null = null;

  constructor(shape: MambaCacheShape) {
    this.shape = { ...shape };
    const { numLayers, batchSize, intermediateSize, stateSize, convKernel } = shape;
    this.convStates = Array.from({ length: numLayers }, () =>
      tf.keep(tf.zeros([batchSize, intermediateSize, convKernel])) as tf.Tensor3D);
    this.ssmStates = Array.from({ length: numLayers }, () =>
      tf.keep(tf.zeros([batchSize, intermediateSize, stateSize])) as tf.Tensor3D);
  }

  get batchSize(): number {
    return this.shape.batchSize;
  }

  /** True after dispose(): the cache holds no states any more. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  /**
   * This cache's fused decoder of class `kind` for `model`, made by `make` on first use and kept (disposed
   * with the cache); one of another class or model is disposed first.
   */
  fusedDecoderFor<D extends FusedDecoder>(kind: abstract new (...args: never[]) => D, model: object, make: () => D): D {
    if (this.fusedDecoder instanceof kind && this.fusedDecoder.model === model) return this.fusedDecoder;
    this.fusedDecoder?.dispose();
    const decoder = make();
    this.fusedDecoder = decoder;
    return decoder;
  }

  /** Throws, naming the size, unless the states were laid out for a model of these sizes (a fused decoder writes them in place). */
  checkMadeFor(sizes: CacheSizes): void {
    const expected = { numLayers: sizes.numHiddenLayers, intermediateSize: sizes.intermediateSize, stateSize: sizes.stateSize, convKernel: sizes.convKernel };
    for (const [field, size] of Object.entries(expected)) {
      const got = this.shape[field as keyof typeof expected];
      if (got !== size) throw new Error(`the cache was made for another model: its ${field} is ${got}, the model's ${size}`);
    }
  }

  /** True once a forward pass has filled the states (a later pass continues from them). */
  get isFilled(): boolean {
    return this.seqLen > 0;
  }

  updateConvState(layerIdx: number, state: tf.Tensor): void {
    this.replace(this.convStates, layerIdx, state, [this.shape.batchSize, this.shape.intermediateSize, this.shape.convKernel]);
  }

  updateSsmState(layerIdx: number, state: tf.Tensor): void {
    this.replace(this.ssmStates, layerIdx, state, [this.shape.batchSize, this.shape.intermediateSize, this.shape.stateSize]);
  }

  /** Zeroes every state, for a new sequence of the same batch size. */
  reset(): void {
    this.checkAlive();
    for (let i = 0; i < this.shape.numLayers; i++) {
      this.updateConvState(i, tf.zeros(this.convStates[i].shape));
      this.updateSsmState(i, tf.zeros(this.ssmStates[i].shape));
    }
    this.seqLen = 0;
  }

  /**
   * A layer's A = -exp(A_log) for decode steps: computed once per cache instead of once per token
   * (a few ms a token at 130m on wasm). Recomputed if A_log was assigned since (its data changed).
   * No gradient flows through it: decoding is inference.
   */
  negExpA(layerIdx: number, A_log: tf.Tensor): tf.Tensor {
    this.checkAlive();
    const cached = this.negExpAs.get(layerIdx);
    if (cached?.source === A_log.dataId) return cached.A;
    cached?.A.dispose();
    const A = tf.keep(tf.tidy(() => tf.neg(tf.exp(A_log))));
    this.negExpAs.set(layerIdx, { source: A_log.dataId, A });
    return A;
  }

  dispose(): void {
    if (this.disposed) return;
    this.fusedDecoder?.dispose();
    this.fusedDecoder = null;
    tf.dispose([...this.convStates, ...this.ssmStates, ...[...this.negExpAs.values()].map((c) => c.A)]);
    this.disposed = true;
  }

  private replace(states: tf.Tensor3D[], layerIdx: number, state: tf.Tensor, expected: number[]): void {
    this.checkAlive();
    if (!Number.isInteger(layerIdx) || layerIdx < 0 || layerIdx >= this.shape.numLayers) {
      throw new RangeError(`MambaCache: layer index ${layerIdx} is outside [0, ${this.shape.numLayers})`);
    }
    if (!tf.util.arraysEqual(state.shape, expected)) {
      throw new Error(`MambaCache: layer ${layerIdx} state must have shape [${expected}], got [${state.shape}]`);
    }
    const old = states[layerIdx];
    states[layerIdx] = tf.keep(state) as tf.Tensor3D;
    if (old !== state) old.dispose();
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('MambaCache: used after dispose()');
  }
}
