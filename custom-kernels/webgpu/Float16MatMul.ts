/**
 * Float16MatMul on WebGPU: one thread per output element, each int32 word read once and widened to
 * two float32 values by WGSL's core unpack2x16float, so no `shader-f16` feature is needed and every
 * WebGPU device runs it; products and sums stay float32. Also the half decoding that Float16Gather
 * and the fused decoder share.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { halfWordsPerRow } from '../float16_format.js';
import { Float16MatMul, type Float16MatMulAttrs } from '../kernel_names.js';
import { FlatProgram } from './program.js';

/** WGSL `fn weight(row : i32, k : i32) -> f32`: W[row, k] from the packed halves in `words`. */
export function wgslHalfWeight(inFeatures: number): string {
  return `
    fn weight(row : i32, k : i32) -> f32 {
      return unpack2x16float(u32(words[row * ${halfWordsPerRow(inFeatures)} + k / 2]))[k % 2];
    }`;
}

/** y [M, N] = x [M, K] @ W^T: each thread one y, a word (two columns) at a time. */
class Float16MatMulProgram extends FlatProgram {
  constructor(M: number, private readonly N: number, private readonly K: number) {
    super('float16MatMul', [M, N], ['x', 'words'], M * N, {}, [N, K]);
  }

  protected body(): string {
    const { N, K } = this;
    const W = halfWordsPerRow(K);
    const odd = K % 2 === 1;
    return `
      let m = index / ${N};
      let n = index % ${N};
      var acc = 0.0;
      for (var j = 0; j < ${Math.floor(K / 2)}; j++) {
        let w = unpack2x16float(u32(words[n * ${W} + j]));
        acc += x[m * ${K} + 2 * j] * w.x + x[m * ${K} + 2 * j + 1] * w.y;
      }
      ${odd ? `acc += x[m * ${K} + ${K - 1}] * unpack2x16float(u32(words[n * ${W} + ${W - 1}])).x;` : ''}
      result[index] = acc;`;
  }
}

/** y [M, K] = x [M, N] @ W: each thread one y, over the N rows of W. */
class Float16MatMulTransposedProgram extends FlatProgram {
  constructor(M: number, private readonly N: number, private readonly K: number) {
    super('float16MatMulT', [M, K], ['x', 'words'], M * K, {}, [N, K]);
  }

  protected helpers(): string {
    return wgslHalfWeight(this.K);
  }

  protected body(): string {
    const { N, K } = this;
    return `
      let m = index / ${K};
      let k = index % ${K};
      var acc = 0.0;
      for (var n = 0; n < ${N}; n++) {
        acc += x[m * ${N} + n] * weight(n, k);
      }
      result[index] = acc;`;
  }
}

function float16MatMul(
  args: { inputs: Record<string, TensorInfo>; backend: WebGPUBackend; attrs: Float16MatMulAttrs },
): TensorInfo {
  const { x, words } = args.inputs;
  const { inFeatures, transposeWeight } = args.attrs;
  const [M] = x.shape;
  const N = words.shape[0];
  const program = transposeWeight
    ? new Float16MatMulTransposedProgram(M, N, inFeatures) : new Float16MatMulProgram(M, N, inFeatures);
  return program.run(args.backend, [x, words]);
}

export const float16MatMulConfig: KernelConfig = {
  kernelName: Float16MatMul,
  backendName: 'webgpu',
  kernelFunc: float16MatMul as unknown as KernelFunc,
};
