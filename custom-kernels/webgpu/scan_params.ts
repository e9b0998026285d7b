/**
 * The scan's per-channel parameters packed into one buffer, params[d] = [A[d, 0..dState), D[d],
 * deltaBias[d]] (zeros for an absent D or bias): the scan and its step then fit WebGPU's default of
 * 8 storage buffers per shader stage (their 9 inputs plus the output would need 10).
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { FlatProgram, isAbsent } from './program.js';

class ScanParamsProgram extends FlatProgram {
  private readonly dState: number;
  private readonly hasD: boolean;
  private readonly hasBias: boolean;

  constructor(dInner: number, dState: number, hasD: boolean, hasBias: boolean) {
    const inputs = ['a', ...(hasD ? ['skip'] : []), ...(hasBias ? ['bias'] : [])];
    super('scanParams', [dInner, dState + 2], inputs, dInner * (dState + 2), {}, [dState, hasD, hasBias]);
    this.dState = dState;
    this.hasD = hasD;
    this.hasBias = hasBias;
  }

  protected body(): string {
    const n = this.dState;
    return `
      let d = index / ${n + 2};
      let j = index % ${n + 2};
      var v = 0.0;
      if (j < ${n}) {
        v = a[d * ${n} + j];
      } else if (j == ${n}) {
        ${this.hasD ? 'v = skip[d];' : ''}
      } else {
        ${this.hasBias ? 'v = bias[d];' : ''}
      }
      result[index] = v;`;
  }
}

/** Column of D and of deltaBias in a params row of `dState + 2`. */
export const paramsColumns = (dState: number) => ({ stride: dState + 2, skip: dState, bias: dState + 1 });

export function packScanParams(backend: WebGPUBackend, A: TensorInfo, D: TensorInfo, deltaBias: TensorInfo): TensorInfo {
  const [dInner, dState] = A.shape;
  const inputs = [A, D, deltaBias].filter((t) => !isAbsent(t));
  return new ScanParamsProgram(dInner, dState, !isAbsent(D), !isAbsent(deltaBias)).run(backend, inputs);
}
