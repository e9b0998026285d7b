/**
 * MambaMixer, HF's slow_forward channels-last:
 *   1. in_proj -> split (x, gate)
 *   2. causal conv + silu
 *   3. x_proj -> (dt, B, C); dt_proj
 *   4. selective scan (softplus(dt + bias), D skip, silu(gate))
 *   5. out_proj
 * with HF's cache rules: a prefill stores the last conv inputs and the final SSM state, a one-token
 * call with a filled cache takes the single-step kernels, a longer one continues from the cache.
 * Its children are HF's modules (conv1d, in_proj, x_proj, dt_proj, out_proj); it owns A_log and D.
 */
import * as tf from '@tensorflow/tfjs';
import { MambaConfig, type MambaConfigInit } from '../config.js';
import type { MambaCache } from '../model/cache.js';
import { causalConv1dUpdate } from '../ops/causal_conv1d_update.js';
import { selectiveScan } from '../ops/selective_scan.js';
import { selectiveStateUpdate } from '../ops/selective_state_update.js';
import { createWeight, type MatrixStorage } from '../weights/create_weight.js';
import { CausalConv1d } from './causal_conv1d.js';
import { type Kwargs, type LayerArgs, type LayerVariable, onlyTensor } from './layer_args.js';
import { Linear } from './linear.js';
import { initialA_log, initialDtBias } from './mixer_init.js';
import type { MambaModule } from './module.js';

export interface MambaMixerArgs extends LayerArgs {
  /** A MambaConfig, its fields (camelCase) or config.json's keys (snake_case): MambaConfig.from. */
  config: MambaConfig | MambaConfigInit | Record<string, unknown>;
  layerIdx: number;
  /** Build the projections as float16 halves ('float16') or packed codes in a layout (zeros until written), never as float32. */
  packed?: MatrixStorage;
}

export interface MixerForwardOptions {
  /** float32 [batch, seq], 1 for tokens, 0 for padding */
  attentionMask?: tf.Tensor;
  cache?: MambaCache;
  /** tfjs-layers' kwarg (fit sets it): adapters apply their dropout only when training */
  training?: boolean;
}

export class MambaMixer extends tf.layers.Layer implements MambaModule {
  static className = 'MambaMixer';
  readonly config: MambaConfig;
  readonly layerIdx: number;
  readonly packed: MatrixStorage;

  conv1d!: CausalConv1d;
  inProj!: Linear;
  xProj!: Linear;
  dtProj!: Linear;
  outProj!: Linear;
  A_log!: LayerVariable;
  D!: LayerVariable;

  constructor(args: MambaMixerArgs) {
    super(args);
    this.config = MambaConfig.from(args.config);
    if (!Number.isInteger(args.layerIdx) || args.layerIdx < 0) {
      throw new Error(`MambaMixer: layerIdx must be a non-negative integer, got ${args.layerIdx}`);
    }
    this.layerIdx = args.layerIdx;
    this.packed = args.packed ?? null;
  }

  override build(_inputShape: tf.Shape | tf.Shape[]): void {
    const c = this.config;
    const H = c.hiddenSize, I = c.intermediateSize, N = c.stateSize, R = c.timeStepRank, K = c.convKernel;
    const std = c.initializerRange;
    const normal = () => tf.initializers.randomNormal({ mean: 0, stddev: std });
    // PyTorch's kaiming_uniform(a=sqrt(5)) is uniform(+-1/sqrt(fan_in)).
    const kaiming = (fanIn: number, scale = 1) =>
      tf.initializers.randomUniform({ minval: -scale / Math.sqrt(fanIn), maxval: scale / Math.sqrt(fanIn) });
    const dtStd = Math.pow(R, -0.5) * c.timeStepScale;
    // Variables are named as HF names them, so saved tfjs models keep those names.
    const weight = (name: string, shape: number[], init: ReturnType<typeof normal>) => this.addWeight(name, shape, 'float32', init);
    const bias = (name: string, size: number, present: boolean) =>
      (present ? this.addWeight(name, [size], 'float32', tf.initializers.zeros()) : null);
    const linear = (name: string, shape: [number, number], init: ReturnType<typeof normal>, hasBias: boolean) =>
      new Linear(this, createWeight(this, `${name}.weight`, shape, init, this.packed), bias(`${name}.bias`, shape[0], hasBias));

    this.inProj = linear('in_proj', [2 * I, H], normal(), c.useBias);
    this.conv1d = new CausalConv1d(this, weight('conv1d.weight', [I, 1, K], kaiming(K)), bias('conv1d.bias', I, c.useConvBias));
    this.xProj = linear('x_proj', [R + 2 * N, I], normal(), false);
    // HF's _init_weights: "random" draws dt_proj.weight uniform in +-dtStd, "constant" sets it to dtStd;
    // any other scheme ("uniform", which its docs name) keeps nn.Linear's normal init.
    const dtInit = c.timeStepInitScheme === 'random' ? tf.initializers.randomUniform({ minval: -dtStd, maxval: dtStd })
      : c.timeStepInitScheme === 'constant' ? tf.initializers.constant({ value: dtStd }) : normal();
    this.dtProj = linear('dt_proj', [I, R], dtInit, true);
    this.A_log = weight('A_log', [I, N], tf.initializers.zeros());
    this.D = weight('D', [I], tf.initializers.ones());
    const outScale = c.rescalePrenormResidual ? 1 / Math.sqrt(c.numHiddenLayers) : 1;
    this.outProj = linear('out_proj', [H, I], kaiming(I, outScale), c.useBias);

    tf.tidy(() => {
      this.A_log.write(initialA_log(I, N));
      this.dtProj.bias!.write(initialDtBias(c));
    });
    this.built = true;
  }

  children(): [string, MambaModule][] {
    return [['conv1d', this.conv1d], ['in_proj', this.inProj], ['x_proj', this.xProj], ['dt_proj', this.dtProj], ['out_proj', this.outProj]];
  }

  ownParameters(): [string, LayerVariable][] {
    return [['A_log', this.A_log], ['D', this.D]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs?: Kwargs): tf.Tensor {
    return this.forward(onlyTensor('MambaMixer', inputs), (kwargs ?? {}) as MixerForwardOptions);
  }

  /** hiddenStates [batch, seq, hidden] -> [batch, seq, hidden] */
  forward(hiddenStates: tf.Tensor, { attentionMask, cache, training = false }: MixerForwardOptions = {}): tf.Tensor {
    return tf.tidy(() => {
      const c = this.config;
      const I = c.intermediateSize;
      const [batch, seq] = hiddenStates.shape;
      // 1. in_proj, split into the conv's input and the gate
      const projected = this.inProj.forward(hiddenStates, training);
      let x = projected.slice([0, 0, 0], [batch, seq, I]);
      const gate = projected.slice([0, 0, I], [batch, seq, I]);
      const mask = attentionMask?.expandDims(-1);
      if (mask) x = tf.mul(x, mask);

      if (cache?.isFilled && seq === 1) {
        // Decoding: one step of the conv window and of the state, a fixed amount of work per token.
        // 2. the conv window shifted by one input
        const conv = causalConv1dUpdate(
          cache.convStates[this.layerIdx], x.reshape([batch, I]), this.conv1d.kernel(), this.conv1d.bias?.read(), 'silu');
        cache.updateConvState(this.layerIdx, conv.convState);
        // With a conv adapter, the step is the last position of the full conv over the new window.
        let convY = this.conv1d.adapter?.active
          ? this.conv1d.forward(tf.transpose(conv.convState, [0, 2, 1]), training)
            .slice([0, c.convKernel - 1, 0], [batch, 1, I]).reshape([batch, I])
          : conv.y;
        // (HF masks the conv's output too, in this branch as in the sequence's)
        if (mask) convY = tf.mul(convY, mask.reshape([batch, 1]));
        // 3. and 4. the selection and one state update
        const { dt, B, C } = this.selection(convY, training);
        const step = selectiveStateUpdate({
          state: cache.ssmStates[this.layerIdx], x: convY, dt, A: cache.negExpA(this.layerIdx, this.A_log.read()),
          B, C, D: this.D.read(),
          z: gate.reshape([batch, I]), dtBias: this.dtProj.bias!.read(), dtSoftplus: true,
        });
        cache.updateSsmState(this.layerIdx, step.state);
        // 5. out_proj
        return this.outProj.forward(step.y, training).expandDims(1);
      }

      // 2. causal conv + silu
      let convOut: tf.Tensor;
      if (cache) {
        // The conv window continues from the cached inputs (zeros before a prefill).
        const K = c.convKernel;
        const past = tf.transpose(cache.convStates[this.layerIdx], [0, 2, 1]);
        const window = tf.concat([past, x], 1);
        cache.updateConvState(this.layerIdx, tf.transpose(window.slice([0, seq, 0], [batch, K, I]), [0, 2, 1]));
        const withPast = window.slice([0, 1, 0], [batch, seq + K - 1, I]);
        convOut = this.conv1d.forward(withPast, training).slice([0, K - 1, 0], [batch, seq, I]);
      } else {
        convOut = this.conv1d.forward(x, training);
      }
      if (mask) convOut = tf.mul(convOut, mask);

      // 3. x_proj -> (dt, B, C), dt_proj
      const { dt, B, C } = this.selection(convOut, training);
      // 4. the selective scan
      const { y, lastState } = selectiveScan({
        u: convOut, delta: dt, A: tf.neg(tf.exp(this.A_log.read())), B, C, D: this.D.read(), z: gate,
        deltaBias: this.dtProj.bias!.read(), deltaSoftplus: true,
        initialState: cache?.isFilled ? cache.ssmStates[this.layerIdx] : undefined,
      });
      if (cache) cache.updateSsmState(this.layerIdx, lastState);
      // 5. out_proj
      return this.outProj.forward(y, training);
    });
  }

  /** x_proj -> (dt, B, C) and dt_proj (its bias goes to the scan, which adds it before the softplus). */
  private selection(x: tf.Tensor, training: boolean): { dt: tf.Tensor; B: tf.Tensor; C: tf.Tensor } {
    const { timeStepRank: R, stateSize: N } = this.config;
    const params = this.xProj.forward(x, training);
    const [dtLow, B, C] = tf.split(params, [R, N, N], -1);
    return { dt: this.dtProj.forward(dtLow, training, false), B, C };
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), config: this.config.toJSON() as tf.serialization.ConfigDict, layerIdx: this.layerIdx };
  }
}

tf.serialization.registerClass(MambaMixer);
