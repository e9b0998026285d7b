/** LoRA on a linear projection (PEFT's lora.Linear): y = W x + B A dropout(x) * scaling. */
import * as tf from '@tensorflow/tfjs';
import { linear } from '../ops/linear.js';
import { kaimingUniform, LoraLayer, type LoraLayerSettings, type LoraSwitches } from './lora_layer.js';
import type { TargetModule } from './targets.js';
import type { LoraConfig } from './config.js';

export class LoraLinear extends LoraLayer {
  /** A [r, in] and B [out, r]. */
  static shapes(target: TargetModule, r: number): [number[], number[]] {
    const [outFeatures, inFeatures] = target.module.baseShape;
    return [[r, inFeatures], [outFeatures, r]];
  }

  constructor(target: TargetModule, settings: LoraLayerSettings, init: LoraConfig['initLoraWeights'], switches: LoraSwitches) {
    const { r } = settings;
    const [shapeA, shapeB] = LoraLinear.shapes(target, r);
    const inFeatures = shapeA[1];
    // PEFT: A as nn.Linear's default (or normal(1/r) for 'gaussian'), B zero; init false leaves B as nn.Linear's default.
    const a = init === 'gaussian' ? tf.initializers.randomNormal({ mean: 0, stddev: 1 / r }) : kaimingUniform(inFeatures);
    const b = init === false ? kaimingUniform(r) : tf.initializers.zeros();
    super(target, settings, [
      { shape: shapeA, initializer: a },
      { shape: shapeB, initializer: b },
    ], switches);
  }

  protected update(x: tf.Tensor, training: boolean): tf.Tensor {
    return linear(linear(this.dropout(x, training), this.loraA.read()), this.loraB.read());
  }

  deltaWeight(): tf.Tensor {
    return tf.tidy(() => tf.mul(tf.matMul(this.loraB.read(), this.loraA.read()), this.settings.scaling));
  }
}
