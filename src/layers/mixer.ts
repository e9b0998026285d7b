/**
 * MambaMixer, HF's slow_forward channels-last:
 *   in_proj -> split (x, gate) -> causal conv + silu -> x_proj -> (dt, B, C) -> dt_proj
 *   -> selective scan (softplus(dt + bias), D skip, silu(gate)) -> out_proj
 * with HF's cache rules: a prefill stores the last conv inputs and the final SSM state, a one-token
 * call with a filled cache takes the single-step kernels, a longer one continues from the cache.
 */
import * as tf from '@tensorflow/tfjs';
import { MambaConfig } from '../config.js';
import type { MambaCache } from '../model/cache.js';
import { causalConv1d } from '../ops/causal_conv1d.js';
import { causalConv1dUpdate } from '../ops/causal_conv1d_update.js';
import { selectiveScan } from '../ops/selective_scan.js';
import { selectiveStateUpdate } from '../ops/selective_state_update.js';
import { type Kwargs, type LayerArgs, type LayerVariable, onlyTensor } from './layer_args.js';
import { initialA_log, initialDtBias } from './mixer_init.js';
import { type Adapter, Projection } from './projection.js';

export interface MambaMixerArgs extends LayerArgs {
  config: MambaConfig | Record<string, unknown>;
  layerIdx: number;
}

export interface MixerForwardOptions {
  /** float32 [batch, seq], 1 for tokens, 0 for padding */
  attentionMask?: tf.Tensor;
  cache?: MambaCache;
  /** tfjs-layers' kwarg (fit sets it): adapters apply their dropout only when training */
  training?: boolean;
}

export class MambaMixer extends tf.layers.Layer {
  static className = 'MambaMixer';
  readonly config: MambaConfig;
  readonly layerIdx: number;

  inProjWeight!: LayerVariable;
  inProjBias: LayerVariable | null = null;
  conv1dWeight!: LayerVariable;
  conv1dBias: LayerVariable | null = null;
  xProjWeight!: LayerVariable;
  dtProjWeight!: LayerVariable;
  dtProjBias!: LayerVariable;
  A_log!: LayerVariable;
  D!: LayerVariable;
  outProjWeight!: LayerVariable;
  outProjBias: LayerVariable | null = null;

  /** The four projections over the weights above, where adapters (LoRA) and quantized kernels plug in. */
  inProj!: Projection;
  xProj!: Projection;
  dtProj!: Projection;
  outProj!: Projection;
  /** Added to the conv's output before its silu (LoRA on conv1d). */
  conv1dAdapter: Adapter | null = null;

  constructor(args: MambaMixerArgs) {
    super(args);
    this.config = args.config instanceof MambaConfig ? args.config : MambaConfig.fromJSON(args.config);
    if (!Number.isInteger(args.layerIdx) || args.layerIdx < 0) {
      throw new Error(`MambaMixer: layerIdx must be a non-negative integer, got ${args.layerIdx}`);
    }
    this.layerIdx = args.layerIdx;
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

    this.inProjWeight = this.addWeight('in_proj.weight', [2 * I, H], 'float32', normal());
    if (c.useBias) this.inProjBias = this.addWeight('in_proj.bias', [2 * I], 'float32', tf.initializers.zeros());
    this.conv1dWeight = this.addWeight('conv1d.weight', [I, 1, K], 'float32', kaiming(K));
    if (c.useConvBias) this.conv1dBias = this.addWeight('conv1d.bias', [I], 'float32', tf.initializers.zeros());
    this.xProjWeight = this.addWeight('x_proj.weight', [R + 2 * N, I], 'float32', normal());
    // HF re-draws dt_proj.weight only for the "random" scheme; otherwise it keeps nn.Linear's normal init.
    this.dtProjWeight = this.addWeight('dt_proj.weight', [I, R], 'float32', c.timeStepInitScheme === 'random'
      ? tf.initializers.randomUniform({ minval: -dtStd, maxval: dtStd })
      : normal());
    this.dtProjBias = this.addWeight('dt_proj.bias', [I], 'float32', tf.initializers.zeros());
    this.A_log = this.addWeight('A_log', [I, N], 'float32', tf.initializers.zeros());
    this.D = this.addWeight('D', [I], 'float32', tf.initializers.ones());
    const outScale = c.rescalePrenormResidual ? 1 / Math.sqrt(c.numHiddenLayers) : 1;
    this.outProjWeight = this.addWeight('out_proj.weight', [H, I], 'float32', kaiming(I, outScale));
    if (c.useBias) this.outProjBias = this.addWeight('out_proj.bias', [H], 'float32', tf.initializers.zeros());

    this.inProj = new Projection(this.inProjWeight, this.inProjBias);
    this.xProj = new Projection(this.xProjWeight);
    this.dtProj = new Projection(this.dtProjWeight);
    this.outProj = new Projection(this.outProjWeight, this.outProjBias);

    tf.tidy(() => {
      this.A_log.write(initialA_log(I, N));
      this.dtProjBias.write(initialDtBias(c));
    });
    this.built = true;
  }

  /** Weights under HF's names relative to the mixer (`in_proj.weight`, `A_log`, ...). */
  namedWeights(): Map<string, LayerVariable> {
    const entries: [string, LayerVariable | null][] = [
      ['A_log', this.A_log], ['D', this.D],
      ['conv1d.weight', this.conv1dWeight], ['conv1d.bias', this.conv1dBias],
      ['in_proj.weight', this.inProjWeight], ['in_proj.bias', this.inProjBias],
      ['x_proj.weight', this.xProjWeight],
      ['dt_proj.weight', this.dtProjWeight], ['dt_proj.bias', this.dtProjBias],
      ['out_proj.weight', this.outProjWeight], ['out_proj.bias', this.outProjBias],
    ];
    return new Map(entries.filter((e): e is [string, LayerVariable] => e[1] != null));
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
      const projected = this.inProj.forward(hiddenStates, training);
      let x = projected.slice([0, 0, 0], [batch, seq, I]);
      const gate = projected.slice([0, 0, I], [batch, seq, I]);
      const mask = attentionMask?.expandDims(-1);
      if (mask) x = tf.mul(x, mask);

      const convWeight = this.conv1dWeight.read().reshape([I, c.convKernel]);
      const convBias = this.conv1dBias?.read();

      if (cache?.isFilled && seq === 1) {
        // Decoding: one step of the conv window and of the state, a fixed amount of work per token.
        const conv = causalConv1dUpdate(
          cache.convStates[this.layerIdx], x.reshape([batch, I]), convWeight, convBias, 'silu');
        cache.updateConvState(this.layerIdx, conv.convState);
        // With a conv adapter, the step is the last position of the full conv over the new window.
        const convY = this.conv1dAdapter == null ? conv.y
          : this.convolve(tf.transpose(conv.convState, [0, 2, 1]), convWeight, convBias, training)
            .slice([0, c.convKernel - 1, 0], [batch, 1, I]).reshape([batch, I]);
        const { dt, B, C } = this.selection(convY, training);
        const step = selectiveStateUpdate({
          state: cache.ssmStates[this.layerIdx], x: convY, dt, A: cache.negExpA(this.layerIdx, this.A_log.read()),
          B, C, D: this.D.read(),
          z: gate.reshape([batch, I]), dtBias: this.dtProjBias.read(), dtSoftplus: true,
        });
        cache.updateSsmState(this.layerIdx, step.state);
        return this.outProj.forward(step.y, training).expandDims(1);
      }

      let convOut: tf.Tensor;
      if (cache) {
        // The conv window continues from the cached inputs (zeros before a prefill).
        const K = c.convKernel;
        const past = tf.transpose(cache.convStates[this.layerIdx], [0, 2, 1]);
        const window = tf.concat([past, x], 1);
        cache.updateConvState(this.layerIdx, tf.transpose(window.slice([0, seq, 0], [batch, K, I]), [0, 2, 1]));
        const withPast = window.slice([0, 1, 0], [batch, seq + K - 1, I]);
        convOut = this.convolve(withPast, convWeight, convBias, training).slice([0, K - 1, 0], [batch, seq, I]);
      } else {
        convOut = this.convolve(x, convWeight, convBias, training);
      }
      if (mask) convOut = tf.mul(convOut, mask);

      const { dt, B, C } = this.selection(convOut, training);
      const { y, lastState } = selectiveScan({
        u: convOut, delta: dt, A: tf.neg(tf.exp(this.A_log.read())), B, C, D: this.D.read(), z: gate,
        deltaBias: this.dtProjBias.read(), deltaSoftplus: true,
        initialState: cache?.isFilled ? cache.ssmStates[this.layerIdx] : undefined,
      });
      if (cache) cache.updateSsmState(this.layerIdx, lastState);
      return this.outProj.forward(y, training);
    });
  }

  /** x_proj -> (dt, B, C) and dt_proj (its bias goes to the scan, which adds it before the softplus). */
  private selection(x: tf.Tensor, training: boolean): { dt: tf.Tensor; B: tf.Tensor; C: tf.Tensor } {
    const { timeStepRank: R, stateSize: N } = this.config;
    const params = this.xProj.forward(x, training);
    const [dtLow, B, C] = tf.split(params, [R, N, N], -1);
    return { dt: this.dtProj.forward(dtLow, training), B, C };
  }

  /** Causal conv + silu over [batch, L, I]; an adapter's term joins before the silu, as in HF's act(conv1d(x)). */
  private convolve(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor | undefined, training: boolean): tf.Tensor {
    const delta = this.conv1dAdapter?.delta(x, training);
    if (delta == null) return causalConv1d(x, weight, bias, 'silu');
    const pre = tf.add(causalConv1d(x, weight, bias, 'none'), delta);
    return tf.mul(pre, tf.sigmoid(pre));
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), config: this.config.toJSON() as tf.serialization.ConfigDict, layerIdx: this.layerIdx };
  }
}

tf.serialization.registerClass(MambaMixer);
