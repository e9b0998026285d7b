/**
 * What this package's WebGPU programs share: a flat dispatch of one thread per work item, sizes
 * that vary between calls (batch, sequence) as uniforms so that one pipeline serves every prompt
 * length while model sizes (channels, states, kernel width) are compiled in, and a few WGSL helpers.
 * tfjs-backend-webgpu is an optional peer, so nothing of it is imported at runtime.
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

const WORKGROUP_SIZE = 64;

/**
 * A program of `threads` invocations; its `body` sees the flat thread index as `index` and the
 * uniforms as `uniforms.<name>`, and it writes `result[...]`, the output buffer, directly. A program
 * may also write side outputs (the fused prefill's conv leaves the conv window, its scan the last
 * state, in the same pass): only flat_kernel.ts binds those, as tfjs' runner binds one output.
 */
export abstract class FlatProgram implements WebGPUProgram {
  readonly outputShape: number[];
  readonly variableNames: string[];
  shaderKey: string;
  readonly dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number] = [WORKGROUP_SIZE, 1, 1];
  readonly uniforms: string;
  /** The uniforms' values in declaration order, `threads` first (flat_kernel.ts writes them to a buffer of its own). */
  readonly uniformValues: number[];
  /** Buffers written beside `result`, by name (read_write, bound after the inputs). */
  readonly sideOutputs: string[];

  /**
   * @param name unique per program class (class names do not survive minifiers)
   * @param key the compile-time choices that shape the WGSL (sizes, flags): programs with equal
   *   keys share a pipeline
   * @param sideOutputs buffers written beside `result` (the key must tell programs with and without them apart)
   */
  protected constructor(
    name: string, outputShape: number[], variableNames: string[], threads: number,
    uniforms: Record<string, number>, key: unknown[], sideOutputs: string[] = [],
  ) {
    this.outputShape = outputShape;
    this.variableNames = variableNames;
    this.sideOutputs = sideOutputs;
    this.dispatchLayout = { x: outputShape.map((_, i) => i) };
    this.dispatch = [Math.max(1, Math.ceil(threads / WORKGROUP_SIZE)), 1, 1];
    const all = { threads, ...uniforms };
    this.uniforms = Object.keys(all).map((name) => `${name} : i32,`).join(' ');
    this.uniformValues = Object.values(all);
    this.shaderKey = `mamba_${name}_${key.join('_')}`;
  }

  /** WGSL helpers the body calls, declared once at module scope. */
  protected helpers(): string {
    return '';
  }

  protected abstract body(): string;

  getUserCode(): string {
    return `${this.helpers()}
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        ${this.body()}
      }`;
  }

  /** @param output a tensor to write into (scratch reused, a result filled in parts); a new one when not given */
  run(backend: WebGPUBackend, inputs: TensorInfo[], output?: TensorInfo): TensorInfo {
    if (this.sideOutputs.length > 0) {
      throw new Error(`${this.shaderKey}: writes ${this.sideOutputs.join(', ')} beside its result, which tfjs' runner cannot bind (flat_kernel.ts can)`);
    }
    const uniforms = this.uniformValues.map((v) => ({ type: 'int32', data: [v] }));
    return backend.runWebGPUProgram(this, inputs, 'float32', uniforms, output);
  }
}

/** The kernel contract's "absent": an optional input passed as an empty tensor. */
export function isAbsent(t: TensorInfo): boolean {
  return t.shape.some((d) => d === 0);
}

/** The gradient of an absent input. */
export function emptyGradient(backend: WebGPUBackend): TensorInfo {
  return backend.makeTensorInfo([0], 'float32', new Float32Array(0));
}

export function disposeAll(backend: WebGPUBackend, infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/**
 * Softplus with torch's threshold (x > 20 gives x); log1p(exp(x)) ~ exp(x) below -15, where
 * log(1 + exp(x)) would round to 0.
 */
export const WGSL_ACTIVATIONS = `
  fn softplus(x : f32) -> f32 {
    if (x > 20.0) { return x; }
    if (x < -15.0) { return exp(x); }
    return log(1.0 + exp(x));
  }
  fn sigmoid(x : f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
  fn silu(x : f32) -> f32 { return x * sigmoid(x); }
  fn siluGrad(x : f32) -> f32 {
    let s = sigmoid(x);
    return s * (1.0 + x * (1.0 - s));
  }
`;
