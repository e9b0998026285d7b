/** QuantizedGather on WebGPU: one thread per output element, W[indices[t], k] decoded as QuantizedMatMul does. */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { QuantizedGather, type QuantizedGatherAttrs } from '../kernel_names.js';
import { FlatProgram, isAbsent } from './program.js';
import { type PackedLayout, wgslWeight } from './QuantizedMatMul.js';

class QuantizedGatherProgram extends FlatProgram {
  constructor(T: number, private readonly layout: PackedLayout) {
    super('quantizedGather', [T, layout.inFeatures], ['indices', 'packed', 'scales', ...(layout.hasZeros ? ['zeros'] : [])],
      T * layout.inFeatures, {}, [layout.bits, layout.groupSize, layout.inFeatures, layout.hasZeros]);
  }

  protected helpers(): string {
    return wgslWeight(this.layout);
  }

  protected body(): string {
    const K = this.layout.inFeatures;
    return `result[index] = weight(indices[index / ${K}], index % ${K});`;
  }
}

function quantizedGather(
  args: { inputs: Record<string, TensorInfo>; backend: WebGPUBackend; attrs: QuantizedGatherAttrs },
): TensorInfo {
  const { indices, packed, scales, zeros } = args.inputs;
  const hasZeros = !isAbsent(zeros);
  const program = new QuantizedGatherProgram(indices.shape[0], { ...args.attrs, hasZeros });
  return program.run(args.backend, [indices, packed, scales, ...(hasZeros ? [zeros] : [])]);
}

export const quantizedGatherConfig: KernelConfig = {
  kernelName: QuantizedGather,
  backendName: 'webgpu',
  kernelFunc: quantizedGather as unknown as KernelFunc,
};
