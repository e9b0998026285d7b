/**
 * One decoding step of the scan on WebGPU: the scan's programs over a one-token sequence starting
 * from `state` (x, dt, z [batch, dInner] are u, delta, z [batch, 1, dInner] in memory). Two
 * dispatches, y and the new state (three on an 8-buffer device: the params are packed first).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { SelectiveStateUpdate, type SelectiveStateUpdateAttrs } from '../kernel_names.js';
import { ScanParams } from './scan_params.js';
import { scanForward } from './SelectiveScan.js';

function selectiveStateUpdate(
  args: { inputs: Record<string, TensorInfo>; backend: WebGPUBackend; attrs: SelectiveStateUpdateAttrs },
): TensorInfo[] {
  const { backend } = args;
  const { state, x, dt, A, B, C, D, z, dtBias } = args.inputs;
  const [batch, dInner, dState] = state.shape;
  const params = new ScanParams(backend, A, D, dtBias);
  const out = scanForward(backend, { u: x, delta: dt, params, B, C, z, initialState: state },
    { batch, seq: 1, dInner, dState }, args.attrs.dtSoftplus, x.shape);
  params.dispose(backend);
  return out;
}

export const selectiveStateUpdateConfig: KernelConfig = {
  kernelName: SelectiveStateUpdate,
  backendName: 'webgpu',
  kernelFunc: selectiveStateUpdate as unknown as KernelFunc,
};
