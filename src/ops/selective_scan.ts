/** The selective scan as a tfjs op: argument checks, then the backend's registered kernel. */
import * as tf from '@tensorflow/tfjs';
import { SelectiveScan, type SelectiveScanAttrs } from '../../custom-kernels/kernel_names.js';
import { checkArgs, checkShape, checkTensor, optionalInput } from './validate.js';
import { ensureKernels } from './ensure_kernels.js';

export interface SelectiveScanArgs {
  /** [batch, seq, dInner] */
  u: tf.Tensor;
  /** [batch, seq, dInner], before deltaBias and softplus */
  delta: tf.Tensor;
  /** [dInner, dState], negative for a decaying state (HF: -exp(A_log)) */
  A: tf.Tensor;
  /** [batch, seq, dState] */
  B: tf.Tensor;
  /** [batch, seq, dState] */
  C: tf.Tensor;
  /** [dInner] skip connection */
  D?: tf.Tensor;
  /** [batch, seq, dInner] gate: y *= silu(z) */
  z?: tf.Tensor;
  /** [dInner] added to delta before the softplus */
  deltaBias?: tf.Tensor;
  deltaSoftplus?: boolean;
  /** [batch, dInner, dState] state carried in from an earlier chunk */
  initialState?: tf.Tensor;
}

export interface SelectiveScanResult {
  y: tf.Tensor3D;
  lastState: tf.Tensor3D;
}

const OP = 'selectiveScan';

export function selectiveScan(args: SelectiveScanArgs): SelectiveScanResult {
  checkArgs(OP, args, 'deltaSoftplus');
  const u = checkTensor(OP, 'u', args.u, 3);
  const [batch, seq, dInner] = u.shape;
  if (seq === 0) throw new Error(`${OP}: empty sequence (u has shape [${u.shape}])`);
  checkShape(OP, 'delta', checkTensor(OP, 'delta', args.delta, 3), [batch, seq, dInner]);
  const A = checkTensor(OP, 'A', args.A, 2);
  if (A.shape[0] !== dInner) throw new Error(`${OP}: 'A' must have shape [${dInner}, dState], got [${A.shape}]`);
  const dState = A.shape[1] as number;
  checkShape(OP, 'B', checkTensor(OP, 'B', args.B, 3), [batch, seq, dState]);
  checkShape(OP, 'C', checkTensor(OP, 'C', args.C, 3), [batch, seq, dState]);
  ensureKernels();
  return tf.tidy(() => {
    const inputs = {
      u, delta: args.delta, A, B: args.B, C: args.C,
      D: optionalInput(OP, 'D', args.D, [dInner]),
      z: optionalInput(OP, 'z', args.z, [batch, seq, dInner]),
      deltaBias: optionalInput(OP, 'deltaBias', args.deltaBias, [dInner]),
      initialState: optionalInput(OP, 'initialState', args.initialState, [batch, dInner, dState]),
    };
    const attrs: SelectiveScanAttrs = { deltaSoftplus: args.deltaSoftplus ?? false };
    const [y, lastState] = tf.engine().runKernel(
      SelectiveScan, inputs as unknown as tf.NamedTensorMap, attrs) as tf.Tensor[];
    return { y: y as tf.Tensor3D, lastState: lastState as tf.Tensor3D };
  });
}
