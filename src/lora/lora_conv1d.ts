/**
 * LoRA on the mixer's causal conv, laid out as PEFT's lora.Conv1d: lora_A a Conv1d [r, I, K] with the
 * base's kernel and causal padding, lora_B a 1x1 Conv1d [I, r, 1]; the term joins the conv's output
 * before its silu.
 *
 * The base conv is depthwise (groups = I). PEFT would group lora_B too, which needs r divisible by I,
 * and then refuses to merge; here lora_B is an ordinary 1x1 conv (groups 1), so any r works and the
 * adapter mixes channels, a rank-r full conv beside the depthwise one. A depthwise weight cannot hold
 * that update, so this adapter is not merged (mergeLora says so).
 */
import * as tf from '@tensorflow/tfjs';
import { linear } from '../ops/linear.js';
import { kaimingUniform, LoraLayer, type LoraLayerSettings, type LoraSwitches } from './lora_layer.js';
import type { TargetModule } from './targets.js';
import type { LoraConfig } from './config.js';

export class LoraConv1d extends LoraLayer {
  /** A [r, I, K] and B [I, r, 1]. */
  static shapes(target: TargetModule, r: number): [number[], number[]] {
    const [channels, , kernel] = target.module.baseShape;
    return [[r, channels, kernel], [channels, r, 1]];
  }

  constructor(target: TargetModule, settings: LoraLayerSettings, init: LoraConfig['initLoraWeights'], switches: LoraSwitches) {
    const { r } = settings;
    const [shapeA, shapeB] = LoraConv1d.shapes(target, r);
    const [, channels, kernel] = shapeA;
    // As nn.Conv1d's default init: fan_in = in_channels * kernel for A, r for B.
    const a = init === 'gaussian' ? tf.initializers.randomNormal({ mean: 0, stddev: 1 / r }) : kaimingUniform(channels * kernel);
    const b = init === false ? kaimingUniform(r) : tf.initializers.zeros();
    super(target, settings, [
      { shape: shapeA, initializer: a },
      { shape: shapeB, initializer: b },
    ], switches);
  }

  /** x [batch, L, I] -> [batch, L, I], causal: position t sees x[t-K+1 .. t]. */
  protected update(x: tf.Tensor, training: boolean): tf.Tensor {
    const [r, channels, kernel] = this.loraA.shape as number[];
    const [batch, length] = x.shape;
    const padded = tf.pad(this.dropout(x, training), [[0, 0], [kernel - 1, 0], [0, 0]]);
    // The K shifted copies side by side ([batch, L, K*I], index k*I + i), so the conv is one matmul
    // made of ops every backend differentiates.
    const windows = tf.concat(Array.from({ length: kernel },
      (_, k) => padded.slice([0, k, 0], [batch, length, channels])), -1);
    const a = tf.transpose(this.loraA.read(), [0, 2, 1]).reshape([r, kernel * channels]);
    return linear(linear(windows, a), this.loraB.read().reshape([channels, r]));
  }

  deltaWeight(): null {
    return null;
  }
}
