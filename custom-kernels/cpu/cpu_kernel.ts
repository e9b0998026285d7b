/** Runs a typed-array kernel on the cpu backend: inputs are its stored arrays, outputs new ones. */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { TypedKernel } from '../shared/typed_kernel.js';

export function cpuKernelConfig(kernel: TypedKernel): KernelConfig {
  const kernelFunc: KernelFunc = ({ inputs, backend, attrs = {} }) => {
    const cpu = backend as MathBackendCPU;
    const infos = kernel.inputNames.map((name) => inputs[name] as TensorInfo);
    const shapes = infos.map((info) => info.shape);
    const arrays = infos.map((info) => cpu.data.get(info.dataId).values as Float32Array);
    const outShapes = kernel.outputShapes(shapes, attrs);
    const outputs = outShapes.map((shape) => new Float32Array(tf.util.sizeFromShape(shape)));
    kernel.run(arrays, shapes, outputs, attrs);
    const results = outputs.map((values, i) => cpu.makeTensorInfo(outShapes[i], 'float32', values));
    return kernel.singleOutput ? results[0] : results;
  };
  return { kernelName: kernel.kernelName, backendName: 'cpu', kernelFunc };
}
