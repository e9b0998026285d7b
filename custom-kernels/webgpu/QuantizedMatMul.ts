/**
 * QuantizedMatMul on WebGPU: one thread per output element, unpacking the int32 words with WGSL's
 * integer shifts (the bits survive: tfjs stores int32 tensors as i32 buffers), each term taken as
 * x * (code - zero) so float32 sums never cancel large code sums. Also the packed-word decoding
 * that QuantizedGather shares.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { QuantizedMatMul, type QuantizedMatMulAttrs } from '../kernel_names.js';
import { FlatProgram, isAbsent } from './program.js';

/** The compile-time layout of one packed weight [rows, inFeatures]. */
export interface PackedLayout {
  bits: 8 | 4;
  groupSize: number;
  inFeatures: number;
  hasZeros: boolean;
}

/** WGSL `fn weight(row, k) -> f32`: W[row, k] = (code - zero) * scale, from `packed`, `scales`, `zeros`. */
export function wgslWeight({ bits, groupSize, inFeatures, hasZeros }: PackedLayout): string {
  const perWord = 32 / bits;
  const words = Math.ceil(inFeatures / perWord);
  const groups = Math.ceil(inFeatures / groupSize);
  return `
    fn code(row : i32, k : i32) -> f32 {
      let w = u32(packed[row * ${words} + k / ${perWord}]);
      return f32((w >> u32((k % ${perWord}) * ${bits})) & ${(1 << bits) - 1}u);
    }
    fn zero(row : i32, k : i32) -> f32 {
      return ${hasZeros ? `zeros[row * ${groups} + k / ${groupSize}]` : `${1 << (bits - 1)}.0`};
    }
    fn weight(row : i32, k : i32) -> f32 {
      return (code(row, k) - zero(row, k)) * scales[row * ${groups} + k / ${groupSize}];
    }`;
}

/** y [M, N] = x [M, K] @ W^T: each thread one y, group by group (one scale per group). */
class QuantizedMatMulProgram extends FlatProgram {
  constructor(M: number, private readonly N: number, private readonly layout: PackedLayout) {
    super('quantizedMatMul', [M, N], ['x', 'packed', 'scales', ...(layout.hasZeros ? ['zeros'] : [])],
      M * N, {}, [N, layout.bits, layout.groupSize, layout.inFeatures, layout.hasZeros]);
  }

  protected helpers(): string {
    return wgslWeight(this.layout);
  }

  protected body(): string {
    const { groupSize, inFeatures: K } = this.layout;
    const groups = Math.ceil(K / groupSize);
    return `
      let m = index / ${this.N};
      let n = index % ${this.N};
      var acc = 0.0;
      for (var g = 0; g < ${groups}; g++) {
        let k0 = g * ${groupSize};
        let z = zero(n, k0);
        var dot = 0.0;
        for (var k = k0; k < min(k0 + ${groupSize}, ${K}); k++) {
          dot += x[m * ${K} + k] * (code(n, k) - z);
        }
        acc += scales[n * ${groups} + g] * dot;
      }
      result[index] = acc;`;
  }
}

/** y [M, K] = x [M, N] @ W: each thread one y, over the N rows of W. */
class QuantizedMatMulTransposedProgram extends FlatProgram {
  constructor(M: number, private readonly N: number, private readonly layout: PackedLayout) {
    super('quantizedMatMulT', [M, layout.inFeatures], ['x', 'packed', 'scales', ...(layout.hasZeros ? ['zeros'] : [])],
      M * layout.inFeatures, {}, [N, layout.bits, layout.groupSize, layout.inFeatures, layout.hasZeros]);
  }

  protected helpers(): string {
    return wgslWeight(this.layout);
  }

  protected body(): string {
    const K = this.layout.inFeatures;
    return `
      let m = index / ${K};
      let k = index % ${K};
      var acc = 0.0;
      for (var n = 0; n < ${this.N}; n++) {
        acc += x[m * ${this.N} + n] * weight(n, k);
      }
      result[index] = acc;`;
  }
}

function quantizedMatMul(
  args: { inputs: Record<string, TensorInfo>; backend: WebGPUBackend; attrs: QuantizedMatMulAttrs },
): TensorInfo {
  const { x, packed, scales, zeros } = args.inputs;
  const { bits, groupSize, inFeatures, transposeWeight } = args.attrs;
  const hasZeros = !isAbsent(zeros);
  const layout = { bits, groupSize, inFeatures, hasZeros };
  const [M] = x.shape;
  const N = packed.shape[0];
  const program = transposeWeight
    ? new QuantizedMatMulTransposedProgram(M, N, layout) : new QuantizedMatMulProgram(M, N, layout);
  return program.run(args.backend, [x, packed, scales, ...(hasZeros ? [zeros] : [])]);
}

export const quantizedMatMulConfig: KernelConfig = {
  kernelName: QuantizedMatMul,
  backendName: 'webgpu',
  kernelFunc: quantizedMatMul as unknown as KernelFunc,
};
