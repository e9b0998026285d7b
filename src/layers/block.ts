/** MambaBlock: residual + mixer(norm(x)), the residual kept in float32 as HF's residual_in_fp32 asks. */
import * as tf from '@tensorflow/tfjs';
import { MambaConfig, type MambaConfigInit } from '../config.js';
import type { MatrixStorage } from '../weights/create_weight.js';
import { type Kwargs, type LayerArgs, type LayerVariable, onlyTensor } from './layer_args.js';
import { MambaMixer, type MixerForwardOptions } from './mixer.js';
import type { MambaModule } from './module.js';
import { MambaRMSNorm } from './rms_norm.js';

export interface MambaBlockArgs extends LayerArgs {
  /** A MambaConfig, its fields (camelCase) or config.json's keys (snake_case): MambaConfig.from. */
  config: MambaConfig | MambaConfigInit | Record<string, unknown>;
  layerIdx: number;
  /** How the mixer's projections are built: float16 halves or packed codes (MambaMixerArgs.packed). */
  packed?: MatrixStorage;
}

export class MambaBlock extends tf.layers.Layer implements MambaModule {
  static className = 'MambaBlock';
  readonly config: MambaConfig;
  readonly layerIdx: number;
  readonly norm: MambaRMSNorm;
  readonly mixer: MambaMixer;

  constructor(args: MambaBlockArgs) {
    super(args);
    this.config = MambaConfig.from(args.config);
    this.layerIdx = args.layerIdx;
    this.norm = new MambaRMSNorm({ eps: this.config.layerNormEpsilon, name: 'norm' });
    this.mixer = new MambaMixer({ config: this.config, layerIdx: args.layerIdx, name: 'mixer', packed: args.packed });
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    // Built inside this block's name scope, so the weights are named `<block>/weight`, `<block>/in_proj.weight`...
    this.norm.build(inputShape);
    this.mixer.build(inputShape);
    this.built = true;
  }

  override get trainableWeights(): LayerVariable[] {
    return this.trainable ? [...this.norm.trainableWeights, ...this.mixer.trainableWeights] : [];
  }

  override get nonTrainableWeights(): LayerVariable[] {
    return this.trainable
      ? [...this.norm.nonTrainableWeights, ...this.mixer.nonTrainableWeights]
      : [...this.norm.weights, ...this.mixer.weights];
  }

  children(): [string, MambaModule][] {
    return [['norm', this.norm], ['mixer', this.mixer]];
  }

  ownParameters(): [string, LayerVariable][] {
    return [];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs?: Kwargs): tf.Tensor {
    return this.forward(onlyTensor('MambaBlock', inputs), (kwargs ?? {}) as MixerForwardOptions);
  }

  forward(hiddenStates: tf.Tensor, options: MixerForwardOptions = {}): tf.Tensor {
    return tf.tidy(() => {
      const normed = this.norm.call(hiddenStates);
      return tf.add(hiddenStates, this.mixer.forward(normed, options));
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), config: this.config.toJSON() as tf.serialization.ConfigDict, layerIdx: this.layerIdx };
  }
}

tf.serialization.registerClass(MambaBlock);
