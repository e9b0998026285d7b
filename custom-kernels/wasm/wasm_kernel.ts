/**
 * Runs a typed-array kernel on the wasm backend, in place on the wasm heap: the outputs are
 * allocated there first (allocation may grow the memory, which detaches earlier views), then the
 * kernel reads and writes views of the heap, with no copies in or out.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { TypedKernel } from '../shared/typed_kernel.js';

export function wasmKernelConfig(kernel: TypedKernel): KernelConfig {
  const kernelFunc: KernelFunc = ({ inputs, backend, attrs = {} }) => {
    const wasm = backend as BackendWasm;
    const infos = kernel.inputNames.map((name) => inputs[name] as TensorInfo);
    const shapes = infos.map((info) => info.shape);
    const results = kernel.outputShapes(shapes, attrs).map((shape) => wasm.makeOutput(shape, 'float32'));
    const view = (info: TensorInfo) => wasm.typedArrayFromHeap(info) as Float32Array;
    kernel.run(infos.map(view), shapes, results.map(view), attrs);
    return kernel.singleOutput ? results[0] : results;
  };
  return { kernelName: kernel.kernelName, backendName: 'wasm', kernelFunc };
}
