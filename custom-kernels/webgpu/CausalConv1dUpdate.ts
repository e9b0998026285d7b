/**
 * One decoding step of the causal conv on WebGPU, two programs that read the old state (so they
 * need not wait on each other): the shifted state, one thread per entry, and y, one per channel.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { CausalConv1dUpdate, type CausalConv1dAttrs } from '../kernel_names.js';
import { FlatProgram, isAbsent, WGSL_ACTIVATIONS } from './program.js';

/** new[b, d, k] = state[b, d, k + 1], and x[b, d] at the last tap. Inputs: state, x. */
class ConvStateShiftProgram extends FlatProgram {
  private readonly width: number;

  constructor(stateShape: number[]) {
    const [batch, channels, width] = stateShape;
    super('conv1dStateShift', stateShape, ['state', 'x'], batch * channels * width, {}, [width]);
    this.width = width;
  }

  protected body(): string {
    return `
      if (index % ${this.width} == ${this.width - 1}) {
        result[index] = x[index / ${this.width}];
      } else {
        result[index] = state[index + 1];
      }`;
  }
}

/** y[b, d] = act(bias[d] + sum_k weight[d, k] * shifted[b, d, k]). Inputs: state, x, weight, bias?. */
class ConvStepProgram extends FlatProgram {
  private readonly width: number;
  private readonly hasBias: boolean;
  private readonly silu: boolean;

  constructor(stateShape: number[], hasBias: boolean, silu: boolean) {
    const [batch, channels, width] = stateShape;
    const inputs = ['state', 'x', 'weight', ...(hasBias ? ['bias'] : [])];
    super('conv1dStep', [batch, channels], inputs, batch * channels, {}, [channels, width, hasBias, silu]);
    this.width = width;
    this.hasBias = hasBias;
    this.silu = silu;
  }

  protected helpers(): string {
    return WGSL_ACTIVATIONS;
  }

  protected body(): string {
    const channels = this.outputShape[1];
    return `
      let d = index % ${channels};
      var s = ${this.hasBias ? 'bias[d]' : '0.0'} + weight[d * ${this.width} + ${this.width - 1}] * x[index];
      for (var k = 0; k < ${this.width - 1}; k++) {
        s += weight[d * ${this.width} + k] * state[index * ${this.width} + k + 1];
      }
      result[index] = ${this.silu ? 'silu(s)' : 's'};`;
  }
}

function causalConv1dUpdate(
  args: { inputs: Record<string, TensorInfo>; backend: WebGPUBackend; attrs: CausalConv1dAttrs },
): TensorInfo[] {
  const { backend } = args;
  const { convState, x, weight, bias } = args.inputs;
  const hasBias = !isAbsent(bias);
  const y = new ConvStepProgram(convState.shape, hasBias, args.attrs.activation === 'silu')
    .run(backend, [convState, x, weight, ...(hasBias ? [bias] : [])]);
  const next = new ConvStateShiftProgram(convState.shape).run(backend, [convState, x]);
  return [y, next];
}

export const causalConv1dUpdateConfig: KernelConfig = {
  kernelName: CausalConv1dUpdate,
  backendName: 'webgpu',
  kernelFunc: causalConv1dUpdate as unknown as KernelFunc,
};
