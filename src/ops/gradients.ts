/**
 * Gradients of the scan and the conv: each runs its backward kernel once and hands out the
 * per-input results, so every backend that has the backward kernel trains through the same graph.
 */
import * as tf from '@tensorflow/tfjs';
import {
  CAUSAL_CONV1D_INPUTS, CausalConv1d, CausalConv1dGrad, SELECTIVE_SCAN_INPUTS, SelectiveScan, SelectiveScanGrad,
} from '../../custom-kernels/kernel_names.js';

function namedGradients(names: readonly string[], grads: tf.Tensor[]): Record<string, () => tf.Tensor> {
  return Object.fromEntries(names.map((name, i) => [name, () => grads[i]]));
}

tf.registerGradient({
  kernelName: SelectiveScan,
  inputsToSave: [...SELECTIVE_SCAN_INPUTS],
  gradFunc: (dys, saved, attrs) => {
    const [dy, dLastState] = dys as tf.Tensor[];
    const inputs: tf.NamedTensorMap = { dy, dLastState };
    SELECTIVE_SCAN_INPUTS.forEach((name, i) => { inputs[name] = saved[i]; });
    const grads = tf.engine().runKernel(SelectiveScanGrad, inputs, attrs) as tf.Tensor[];
    return namedGradients(SELECTIVE_SCAN_INPUTS, grads);
  },
});

tf.registerGradient({
  kernelName: CausalConv1d,
  inputsToSave: [...CAUSAL_CONV1D_INPUTS],
  gradFunc: (dy, saved, attrs) => {
    const inputs: tf.NamedTensorMap = { dy: dy as tf.Tensor };
    CAUSAL_CONV1D_INPUTS.forEach((name, i) => { inputs[name] = saved[i]; });
    const grads = tf.engine().runKernel(CausalConv1dGrad, inputs, attrs) as tf.Tensor[];
    return namedGradients(CAUSAL_CONV1D_INPUTS, grads);
  },
});
