/**
 * Linear on WebGPU (custom-kernels/kernel_names.ts): y = x W^T (+ bias) through the tiled GEMM
 * (gemm/gemm.ts) run by tfjs' program runner, so it records, times and frees like any tfjs op.
 * M comes from x's shape uniform, so a pipeline per projection serves every prompt length.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { Linear, type LinearAttrs } from '../kernel_names.js';
import { chooseGemmTile, type GemmDims, gemmBody, gemmGrid, gemmIo, gemmThreads } from './gemm/gemm.js';
import { isAbsent } from './program.js';

const components = (type: string) => (type.startsWith('vec4') ? 4 : type.startsWith('vec2') ? 2 : 1);

class LinearProgram implements WebGPUProgram {
  readonly outputShape: number[];
  readonly variableNames: string[];
  readonly variableComponents: number[];
  readonly outputComponent: number;
  shaderKey: string;
  readonly dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number];

  constructor(M: number, private readonly dims: GemmDims) {
    const io = gemmIo(dims);
    this.outputShape = [M, dims.outFeatures];
    this.variableNames = ['x', 'w', ...(dims.hasBias ? ['bias'] : [])];
    this.variableComponents = [components(io.xType), components(io.wType), ...(dims.hasBias ? [1] : [])];
    this.outputComponent = components(io.yType);
    const { tileM, tileN } = dims.tile;
    this.shaderKey = `mamba_linear_${dims.outFeatures}_${dims.inFeatures}_${dims.weight}_${dims.hasBias}_${tileM}x${tileN}`;
    this.dispatch = [...gemmGrid(dims, M), 1];
    this.workgroupSize = [gemmThreads(dims.tile), 1, 1];
  }

  getUserCode(): string {
    return `${gemmBody(this.dims, 'result')}
      fn main() { gemm(localIndex, workgroupId, u32(uniforms.xShape[0])); }`;
  }
}

function linear(args: { inputs: Record<string, TensorInfo>; backend: WebGPUBackend; attrs: LinearAttrs }): TensorInfo {
  const { x, weight, bias } = args.inputs;
  const [M, inFeatures] = x.shape;
  const outFeatures = weight.shape[0];
  const hasBias = !isAbsent(bias);
  const dims: GemmDims = { outFeatures, inFeatures, hasBias, weight: args.attrs.weightDtype, tile: chooseGemmTile(M, outFeatures) };
  if (M === 0) return args.backend.makeTensorInfo([0, outFeatures], 'float32', new Float32Array(0));
  return args.backend.runWebGPUProgram(new LinearProgram(M, dims), [x, weight, ...(hasBias ? [bias] : [])], 'float32');
}

export const linearConfig: KernelConfig = {
  kernelName: Linear,
  backendName: 'webgpu',
  kernelFunc: linear as unknown as KernelFunc,
};
