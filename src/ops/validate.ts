/** Argument checks shared by the ops: errors name the op, the argument and what was expected. */
import * as tf from '@tensorflow/tfjs';

export function checkTensor(op: string, name: string, t: unknown, rank: number): tf.Tensor {
  if (!(t instanceof tf.Tensor)) {
    throw new TypeError(`${op}: '${name}' must be a tf.Tensor, got ${t === null ? 'null' : typeof t}`);
  }
  if (t.isDisposed) throw new Error(`${op}: '${name}' is disposed`);
  if (t.rank !== rank) {
    throw new Error(`${op}: '${name}' must have rank ${rank}, got shape [${t.shape}]`);
  }
  if (t.dtype !== 'float32') {
    throw new Error(`${op}: '${name}' must be float32, got ${t.dtype}`);
  }
  return t;
}

/** A float32 tensor of rank 1 or more, whatever its shape. */
export function checkAnyRank(op: string, name: string, t: unknown): tf.Tensor {
  if (!(t instanceof tf.Tensor) || t.rank === 0) {
    throw new TypeError(`${op}: '${name}' must be a tf.Tensor of rank >= 1, got ${t instanceof tf.Tensor ? 'a scalar' : t === null ? 'null' : typeof t}`);
  }
  return checkTensor(op, name, t, t.rank);
}

/** An op's argument object, with its boolean `flag` (when given) a boolean. */
export function checkArgs<T extends object>(op: string, args: T, flag: keyof T & string): T {
  if (args === null || typeof args !== 'object' || Array.isArray(args)) {
    throw new TypeError(`${op}: 'args' must be an object of tensors, got ${args === null ? 'null' : typeof args}`);
  }
  const value = (args as Record<string, unknown>)[flag];
  if (value !== undefined && typeof value !== 'boolean') throw new TypeError(`${op}: '${flag}' must be a boolean, got ${typeof value}`);
  return args;
}

export function checkActivation(op: string, activation: unknown): void {
  if (activation !== 'silu' && activation !== 'none') {
    throw new Error(`${op}: activation must be 'silu' or 'none', got '${String(activation)}'`);
  }
}

export function checkShape(op: string, name: string, t: tf.Tensor, expected: number[]): void {
  if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
    throw new Error(`${op}: '${name}' must have shape [${expected}], got [${t.shape}]`);
  }
}

/** An optional input: the tensor after checks, or the empty placeholder the kernels read as "absent". */
export function optionalInput(op: string, name: string, t: tf.Tensor | undefined | null, shape: number[]): tf.Tensor {
  if (t == null) return tf.zeros([0]);
  checkTensor(op, name, t, shape.length);
  checkShape(op, name, t, shape);
  return t;
}
