/** MambaRMSNorm: x * rsqrt(mean(x^2) + eps) * weight over the last axis, in float32 (HF's T5/Llama norm). */
import * as tf from '@tensorflow/tfjs';
import { rmsNorm } from '../ops/rms_norm.js';
import { type Kwargs, type LayerArgs, type LayerVariable, onlyTensor } from './layer_args.js';
import type { MambaModule } from './module.js';

export interface MambaRMSNormArgs extends LayerArgs {
  /** HF's layer_norm_epsilon; the module default is 1e-6, MambaConfig's 1e-5. */
  eps?: number;
}

export class MambaRMSNorm extends tf.layers.Layer implements MambaModule {
  static className = 'MambaRMSNorm';
  readonly eps: number;
  weight!: LayerVariable;

  constructor(args: MambaRMSNormArgs = {}) {
    super(args);
    this.eps = args.eps ?? 1e-6;
    if (!(this.eps > 0)) throw new Error(`MambaRMSNorm: eps must be positive, got ${args.eps}`);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const hidden = shape[shape.length - 1];
    if (hidden == null) throw new Error('MambaRMSNorm: the last axis of the input must be known');
    this.weight = this.addWeight('weight', [hidden], 'float32', tf.initializers.ones());
    this.built = true;
  }

  children(): [string, MambaModule][] {
    return [];
  }

  ownParameters(): [string, LayerVariable][] {
    return [['weight', this.weight]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs?: Kwargs): tf.Tensor {
    return tf.tidy(() => rmsNorm(onlyTensor('MambaRMSNorm', inputs), this.weight.read(), this.eps));
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), eps: this.eps };
  }
}

tf.serialization.registerClass(MambaRMSNorm);
