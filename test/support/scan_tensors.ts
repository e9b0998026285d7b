/** Runs the selectiveScan op on a float64 test case: tensors in, float32 results and gradients out. */
import * as tf from '@tensorflow/tfjs';
import { selectiveScan, type SelectiveScanArgs } from '../../src/ops/selective_scan.js';
import { SCAN_INPUT_NAMES, scanInputShape, type ScanCase, type ScanInputName } from './scan_reference.js';

/** The case's present inputs as float32 tensors (the caller disposes them). */
export function scanTensors(c: ScanCase): Partial<Record<ScanInputName, tf.Tensor>> {
  const out: Partial<Record<ScanInputName, tf.Tensor>> = {};
  for (const name of SCAN_INPUT_NAMES) {
    const values = c.inputs[name];
    if (values != null) out[name] = tf.tensor(Float32Array.from(values), scanInputShape(name, c.dims), 'float32');
  }
  return out;
}

export function presentInputs(c: ScanCase): ScanInputName[] {
  return SCAN_INPUT_NAMES.filter((name) => c.inputs[name] != null);
}

export interface ScanRun {
  y: Float32Array;
  lastState: Float32Array;
  /** Gradients of sum(y * gOut) + sum(lastState * gLast) for each present input. */
  grads: Partial<Record<ScanInputName, Float32Array>>;
}

/** Forward and backward through the real op (tf.grads), leaving no tensors behind; reads back asynchronously. */
export async function runScan(c: ScanCase, gOut: Float64Array, gLast: Float64Array): Promise<ScanRun> {
  const inputs = scanTensors(c);
  const names = presentInputs(c);
  const { batch, seq, dInner, dState } = c.dims;
  const results = tf.tidy(() => {
    const gy = tf.tensor(Float32Array.from(gOut), [batch, seq, dInner]);
    const gl = tf.tensor(Float32Array.from(gLast), [batch, dInner, dState]);
    const call = (...xs: tf.Tensor[]) => {
      const args = Object.fromEntries(names.map((name, i) => [name, xs[i]])) as unknown as SelectiveScanArgs;
      return selectiveScan({ ...args, deltaSoftplus: c.deltaSoftplus });
    };
    const { y, lastState } = call(...names.map((name) => inputs[name]!));
    const loss = (...xs: tf.Tensor[]) => {
      const r = call(...xs);
      return tf.add(tf.sum(tf.mul(r.y, gy)), tf.sum(tf.mul(r.lastState, gl))) as tf.Scalar;
    };
    return [y, lastState, ...tf.grads(loss)(names.map((name) => inputs[name]!))];
  });
  const [y, lastState, ...grads] = await Promise.all(results.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose([...results, ...Object.values(inputs)]);
  return { y, lastState, grads: Object.fromEntries(names.map((name, i) => [name, grads[i]])) };
}
