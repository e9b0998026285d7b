/**
 * The mixer's depthwise causal conv (HF's conv1d: nn.Conv1d(I, I, K, groups=I, padding=K-1) cut to
 * the first L outputs) followed by silu, with an adapter slot whose term joins before the silu, as in
 * HF's act(conv1d(x)). Its variables live in the mixer's weight lists (`owner`).
 */
import * as tf from '@tensorflow/tfjs';
import { causalConv1d } from '../ops/causal_conv1d.js';
import type { AdaptableModule, Adapter } from './adapter.js';
import type { LayerVariable } from './layer_args.js';
import type { MambaModule } from './module.js';

export class CausalConv1d implements AdaptableModule {
  readonly adapterKind = 'conv1d';
  adapter: Adapter | null = null;

  /** @param weight [channels, 1, K] as HF stores it */
  constructor(readonly owner: tf.layers.Layer, readonly weight: LayerVariable, readonly bias: LayerVariable | null) {}

  children(): [string, MambaModule][] {
    return [];
  }

  ownParameters(): [string, LayerVariable][] {
    return [['weight', this.weight], ...(this.bias == null ? [] : [['bias', this.bias] as [string, LayerVariable]])];
  }

  get baseShape(): number[] {
    return this.weight.shape as number[];
  }

  get baseVariable(): LayerVariable {
    return this.weight;
  }

  get kernelSize(): number {
    return (this.weight.shape as number[])[2];
  }

  /** The kernel as the conv ops take it, [channels, K]. */
  kernel(): tf.Tensor2D {
    const [channels, , K] = this.weight.shape as number[];
    return this.weight.read().reshape([channels, K]);
  }

  /** x [batch, L, channels] -> silu(conv(x)) [batch, L, channels] */
  forward(x: tf.Tensor, training = false): tf.Tensor {
    return tf.tidy(() => {
      const delta = this.adapter?.delta(x, training);
      if (delta == null) return causalConv1d(x, this.kernel(), this.bias?.read(), 'silu');
      const pre = tf.add(causalConv1d(x, this.kernel(), this.bias?.read(), 'none'), delta);
      return tf.mul(pre, tf.sigmoid(pre));
    });
  }
}
