/**
 * FirstArgMax on WebGPU: one workgroup per row; each thread keeps the first maximum of its strided
 * share, then a tree reduction keeps the larger value and, on ties, the smaller index (first_max.ts).
 * One dispatch where the portable form (max, compare, where, min) takes six with a range of the
 * vocabulary uploaded.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { FirstArgMax } from '../kernel_names.js';
import { firstMaxDeclarations, firstMaxReduce, firstMaxWalk } from './first_max.js';

const THREADS = 256;

class FirstArgMaxProgram implements WebGPUProgram {
  readonly outputShape: number[];
  readonly variableNames = ['scores'];
  readonly shaderKey: string;
  readonly dispatchLayout = { x: [0] };
  readonly dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number] = [THREADS, 1, 1];

  constructor(rows: number, private readonly cols: number) {
    this.outputShape = [rows];
    this.dispatch = [rows, 1, 1];
    this.shaderKey = `mamba_firstArgMax_${cols}`;
  }

  getUserCode(): string {
    const V = this.cols;
    // Index V marks "nothing yet"; NaN is never taken, so it never wins.
    return `
      ${firstMaxDeclarations(THREADS, V)}

      fn main(index : i32) {
        let row = i32(workgroupId.x);
        let t = i32(localId.x);
        // Unused while best == V; read from the uniforms because tfjs binds them whether or not they are used.
        var value = -uniforms.INFINITY;
        var best = ${V};
        ${firstMaxWalk(V, THREADS, 't', (i) => `let v${i} = scores[row * ${V} + min(q${i}, ${V - 1})];`,
          (i) => ` if (v${i} == v${i} && (best == ${V} || v${i} > value)) { value = v${i}; best = q${i}; }`)}
        ${firstMaxReduce(THREADS, 't', 'value', 'best')}
        if (t == 0) { result[row] = select(bestIndex[0], 0, bestIndex[0] == ${V}); }
      }`;
  }
}

function firstArgMax(args: { inputs: { scores: TensorInfo }; backend: WebGPUBackend }): TensorInfo {
  const [rows, cols] = args.inputs.scores.shape;
  return args.backend.runWebGPUProgram(new FirstArgMaxProgram(rows, cols), [args.inputs.scores], 'int32');
}

export const firstArgMaxConfig: KernelConfig = {
  kernelName: FirstArgMax,
  backendName: 'webgpu',
  kernelFunc: firstArgMax as unknown as KernelFunc,
};
