/**
 * AdamUpdate on WebGPU: three one-thread-per-element programs (tfjs' runner writes one output each),
 * the new value, m and v, each recomputing the moments from the inputs: 3 dispatches for a variable
 * where tf.train.adam launches 13 and uploads six scalars.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { AdamUpdate } from '../kernel_names.js';
import { FlatProgram } from './program.js';

type Output = 'value' | 'm' | 'v';

// hyper: [-lr, beta1, 1 - beta1, beta2, 1 - beta2, epsilon, c1, c2]
const M1 = 'm[index] * hyper[1] + grad[index] * hyper[2]';
const V1 = 'v[index] * hyper[3] + grad[index] * grad[index] * hyper[4]';

/** What each program reads (a binding it does not read would be dropped from its layout) and writes. */
const PROGRAMS: Record<Output, { inputs: string[]; result: string }> = {
  m: { inputs: ['m', 'grad', 'hyper'], result: M1 },
  v: { inputs: ['v', 'grad', 'hyper'], result: V1 },
  value: {
    inputs: ['value', 'm', 'v', 'grad', 'hyper'],
    result: `value[index] + ((${M1}) / hyper[6]) / (sqrt((${V1}) / hyper[7]) + hyper[5]) * hyper[0]`,
  },
};

class AdamUpdateProgram extends FlatProgram {
  constructor(shape: number[], private readonly output: Output) {
    super('adamUpdate', shape, PROGRAMS[output].inputs, shape.reduce((a, b) => a * b, 1), {}, [output]);
  }

  protected body(): string {
    return `result[index] = ${PROGRAMS[this.output].result};`;
  }
}

function adamUpdate(args: { inputs: Record<string, TensorInfo>; backend: WebGPUBackend }): TensorInfo[] {
  return (['value', 'm', 'v'] as const).map((output) => new AdamUpdateProgram(args.inputs.value.shape, output)
    .run(args.backend, PROGRAMS[output].inputs.map((name) => args.inputs[name])));
}

export const adamUpdateConfig: KernelConfig = {
  kernelName: AdamUpdate,
  backendName: 'webgpu',
  kernelFunc: adamUpdate as unknown as KernelFunc,
};
