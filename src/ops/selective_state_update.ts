/** One decoding step of the selective scan (mamba_ssm's selective_state_update) as a tfjs op. */
import * as tf from '@tensorflow/tfjs';
import { SelectiveStateUpdate, type SelectiveStateUpdateAttrs } from '../../custom-kernels/kernel_names.js';
import { checkArgs, checkShape, checkTensor, optionalInput } from './validate.js';
import { ensureKernels } from './ensure_kernels.js';

export interface SelectiveStateUpdateArgs {
  /** [batch, dInner, dState] */
  state: tf.Tensor;
  /** [batch, dInner] */
  x: tf.Tensor;
  /** [batch, dInner], before dtBias and softplus */
  dt: tf.Tensor;
  /** [dInner, dState] */
  A: tf.Tensor;
  /** [batch, dState] */
  B: tf.Tensor;
  /** [batch, dState] */
  C: tf.Tensor;
  D?: tf.Tensor;
  z?: tf.Tensor;
  dtBias?: tf.Tensor;
  dtSoftplus?: boolean;
}

const OP = 'selectiveStateUpdate';

/** Returns this step's output and the next state (a new tensor; `state` is left as it was). */
export function selectiveStateUpdate(args: SelectiveStateUpdateArgs): { y: tf.Tensor2D; state: tf.Tensor3D } {
  checkArgs(OP, args, 'dtSoftplus');
  const state = checkTensor(OP, 'state', args.state, 3);
  const [batch, dInner, dState] = state.shape;
  checkShape(OP, 'x', checkTensor(OP, 'x', args.x, 2), [batch, dInner]);
  checkShape(OP, 'dt', checkTensor(OP, 'dt', args.dt, 2), [batch, dInner]);
  checkShape(OP, 'A', checkTensor(OP, 'A', args.A, 2), [dInner, dState]);
  checkShape(OP, 'B', checkTensor(OP, 'B', args.B, 2), [batch, dState]);
  checkShape(OP, 'C', checkTensor(OP, 'C', args.C, 2), [batch, dState]);
  ensureKernels();
  return tf.tidy(() => {
    const inputs = {
      state, x: args.x, dt: args.dt, A: args.A, B: args.B, C: args.C,
      D: optionalInput(OP, 'D', args.D, [dInner]),
      z: optionalInput(OP, 'z', args.z, [batch, dInner]),
      dtBias: optionalInput(OP, 'dtBias', args.dtBias, [dInner]),
    };
    const attrs: SelectiveStateUpdateAttrs = { dtSoftplus: args.dtSoftplus ?? false };
    const [y, next] = tf.engine().runKernel(
      SelectiveStateUpdate, inputs as unknown as tf.NamedTensorMap, attrs) as tf.Tensor[];
    return { y: y as tf.Tensor2D, state: next as tf.Tensor3D };
  });
}
