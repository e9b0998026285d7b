/** Float16Gather on WebGPU: one thread per output element, W[indices[t], k] widened as Float16MatMul does. */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { Float16Gather, type Float16GatherAttrs } from '../kernel_names.js';
import { wgslHalfWeight } from './Float16MatMul.js';
import { FlatProgram } from './program.js';

class Float16GatherProgram extends FlatProgram {
  constructor(T: number, private readonly K: number) {
    super('float16Gather', [T, K], ['indices', 'words'], T * K, {}, [K]);
  }

  protected helpers(): string {
    return wgslHalfWeight(this.K);
  }

  protected body(): string {
    return `result[index] = weight(indices[index / ${this.K}], index % ${this.K});`;
  }
}

function float16Gather(
  args: { inputs: Record<string, TensorInfo>; backend: WebGPUBackend; attrs: Float16GatherAttrs },
): TensorInfo {
  const { indices, words } = args.inputs;
  return new Float16GatherProgram(indices.shape[0], args.attrs.inFeatures).run(args.backend, [indices, words]);
}

export const float16GatherConfig: KernelConfig = {
  kernelName: Float16Gather,
  backendName: 'webgpu',
  kernelFunc: float16Gather as unknown as KernelFunc,
};
