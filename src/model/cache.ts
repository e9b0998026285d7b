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
  /**
   * Per layer, null until read or replaced: a fresh cache's zeros are made on first use, as the fused
   * prefills replace every state without reading them (a 2.8b cache's zeros are 26 MB uploaded).
   */
  private readonly conv: (tf.Tensor3D | null)[];
  private readonly ssm: (tf.Tensor3D | null)[];
  /** Tokens consumed since the last reset. */
  seqLen = 0;
  private disposed = false;
  /** A = -exp(A_log) per layer for decode steps, with the A_log data it came from. */
  private readonly negExpAs = new Map<number, { source: object; A: tf.Tensor }>();
  /** The fused decoder working on this cache (webgpu's or wasm's), with what it holds; disposed with it. */
  fusedDecoder: FusedDecoder | null = null;

  constructor(shape: MambaCacheShape) {
    this.shape = { ...shape };
    this.conv = new Array<null>(shape.numLayers).fill(null);
    this.ssm = new Array<null>(shape.numLayers).fill(null);
  }

  /** [batch, dInner, convKernel] per layer: the last convKernel conv inputs, oldest first */
  get convStates(): readonly tf.Tensor3D[] {
    return this.materialized(this.conv, this.convShape);
  }

  /** [batch, dInner, dState] per layer */
  get ssmStates(): readonly tf.Tensor3D[] {
    return this.materialized(this.ssm, this.ssmShape);
  }

  /** A conv state's shape, [batch, dInner, convKernel]. */
  get convShape(): [number, number, number] {
    return [this.shape.batchSize, this.shape.intermediateSize, this.shape.convKernel];
  }

  /** An SSM state's shape, [batch, dInner, dState]. */
  get ssmShape(): [number, number, number] {
    return [this.shape.batchSize, this.shape.intermediateSize, this.shape.stateSize];
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
    this.fusedDecoder = null;   // should make() throw (the cache is of another model), the disposed one is not kept
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

  /** False while no conv state was read or set: all are still the zeros a fresh cache starts from. */
  get hasConvStates(): boolean {
    return this.conv.some((t) => t != null);
  }

  /** True once a forward pass has filled the states (a later pass continues from them). */
  get isFilled(): boolean {
    return this.seqLen > 0;
  }

  updateConvState(layerIdx: number, state: tf.Tensor): void {
    this.replace(this.conv, layerIdx, state, this.convShape);
  }

  updateSsmState(layerIdx: number, state: tf.Tensor): void {
    this.replace(this.ssm, layerIdx, state, this.ssmShape);
  }

  /** Zeroes every state, for a new sequence of the same batch size. */
  reset(): void {
    this.checkAlive();
    tf.dispose([...this.conv, ...this.ssm].filter((t): t is tf.Tensor3D => t != null));
    this.conv.fill(null);
    this.ssm.fill(null);
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
    tf.dispose([...this.conv, ...this.ssm].filter((t): t is tf.Tensor3D => t != null));
    tf.dispose([...this.negExpAs.values()].map((c) => c.A));
    this.disposed = true;
  }

  /** `states` with zeros of `shape` where none was made yet. */
  private materialized(states: (tf.Tensor3D | null)[], shape: [number, number, number]): readonly tf.Tensor3D[] {
    this.checkAlive();
    states.forEach((t, i) => {
      if (t == null) states[i] = tf.keep(tf.zeros(shape));
    });
    return states as tf.Tensor3D[];
  }

  private replace(states: (tf.Tensor3D | null)[], layerIdx: number, state: tf.Tensor, expected: number[]): void {
    this.checkAlive();
    if (!Number.isInteger(layerIdx) || layerIdx < 0 || layerIdx >= this.shape.numLayers) {
      throw new RangeError(`MambaCache: layer index ${layerIdx} is outside [0, ${this.shape.numLayers})`);
    }
    if (!tf.util.arraysEqual(state.shape, expected)) {
      throw new Error(`MambaCache: layer ${layerIdx} state must have shape [${expected}], got [${state.shape}]`);
    }
    const old = states[layerIdx];
    states[layerIdx] = tf.keep(state) as tf.Tensor3D;
    if (old != null && old !== state) old.dispose();
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('MambaCache: used after dispose()');
  }
}
