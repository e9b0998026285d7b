/**
 * The scan's per-channel parameters, A [dInner, dState] and the optional D and deltaBias [dInner],
 * as the programs read them: through WGSL accessors aAt(d, n), skipAt(d), biasAt(d) (0 when absent).
 * A program binds only those it reads (WebGPU's automatic layouts drop unread bindings): use().
 * Bound as they are where the device has 10+ storage buffers per shader stage; on WebGPU's default
 * of 8 (the scan's output program would bind 9 inputs and its output), first packed into one buffer
 * params[d] = [A[d, :], D[d], deltaBias[d]], at the cost of one more dispatch.
 * Given A_log instead of A (`aIsLog`, the fused prefill: no tensor of A to keep), aAt reads -exp(A_log).
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { disposeAll, FlatProgram, isAbsent } from './program.js';

/** Tests set `forcePacked` to exercise the 8-buffer layout on devices that have more. */
export const scanParamsLayout = { forcePacked: false };

const UNPACKED_MIN_BUFFERS = 10;

class ScanParamsPackProgram extends FlatProgram {
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
      let j = index % ${n + 2};
      let d = index / ${n + 2};
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

export type ScanParam = 'a' | 'skip' | 'bias';

/** What a program binds and declares for the parameters it reads. */
export interface ScanParamsUse {
  /** Variable names and tensors to bind, in order. */
  names: string[];
  tensors: TensorInfo[];
  /** What the accessors compile to, for shader keys. */
  key: string;
  /** The accessors. */
  wgsl: string;
}

export class ScanParams {
  private readonly dState: number;
  private readonly packed: boolean;
  private readonly hasD: boolean;
  private readonly hasBias: boolean;
  private readonly aIsLog: boolean;
  /** The packed buffer, or the given tensors by parameter. */
  private readonly tensors: Partial<Record<ScanParam | 'params', TensorInfo>>;

  constructor(backend: WebGPUBackend, A: TensorInfo, D: TensorInfo, deltaBias: TensorInfo, { aIsLog = false } = {}) {
    const [dInner, dState] = A.shape;
    this.aIsLog = aIsLog;
    this.dState = dState;
    this.hasD = !isAbsent(D);
    this.hasBias = !isAbsent(deltaBias);
    const buffers = backend.device.limits.maxStorageBuffersPerShaderStage;
    this.packed = scanParamsLayout.forcePacked || buffers < UNPACKED_MIN_BUFFERS;
    const given = { a: A, ...(this.hasD && { skip: D }), ...(this.hasBias && { bias: deltaBias }) };
    const pack = () => new ScanParamsPackProgram(dInner, dState, this.hasD, this.hasBias).run(backend, Object.values(given));
    this.tensors = this.packed ? { params: pack() } : given;
  }

  /** The bindings and accessors for a program that reads `params` (their order does not matter). */
  use(params: ScanParam[]): ScanParamsUse {
    const n = this.dState;
    const key = `${this.packed ? 'packed' : 'bound'}${this.hasD ? 'D' : ''}${this.hasBias ? 'b' : ''}${this.aIsLog ? 'log' : ''}_${params.join('')}`;
    const a = (read: string) => (this.aIsLog ? `-exp(${read})` : read);
    if (this.packed && params.length > 0) {
      const at = { a: `d * ${n + 2} + n`, skip: `d * ${n + 2} + ${n}`, bias: `d * ${n + 2} + ${n + 1}` };
      const wgsl = accessors(params, (p) => (p === 'a' ? a(`params[${at.a}]`) : `params[${at[p]}]`));
      return { names: ['params'], tensors: [this.tensors.params!], key, wgsl };
    }
    const bound = this.packed ? [] : params.filter((p) => this.tensors[p] != null);
    return {
      names: bound, tensors: bound.map((p) => this.tensors[p]!), key,
      wgsl: accessors(params, (p) => (this.tensors[p] == null ? '0.0' : p === 'a' ? a(`a[d * ${n} + n]`) : `${p}[d]`)),
    };
  }

  /** Frees the packed buffer, if one was made. */
  dispose(backend: WebGPUBackend): void {
    if (this.packed) disposeAll(backend, [this.tensors.params!]);
  }
}

const SIGNATURES: Record<ScanParam, string> = {
  a: 'fn aAt(d : i32, n : i32) -> f32', skip: 'fn skipAt(d : i32) -> f32', bias: 'fn biasAt(d : i32) -> f32',
};

function accessors(params: ScanParam[], read: (p: ScanParam) => string): string {
  return params.map((p) => `${SIGNATURES[p]} { return ${read(p)}; }`).join('\n');
}
