/**
 * What is specific to the wasm backend's SIMD scan (custom-kernels/wasm/selective_scan.wat): that it is
 * the path that runs for a fitting shape, the JS fallback for one that does not fit, a heap that grows
 * mid-call, long sequences, the decode step, and the committed bytes being what the .wat assembles to.
 */
import { execFileSync } from 'node:child_process';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { selectiveScan } from '../../src/ops/selective_scan.js';
import { selectiveStateUpdate } from '../../src/ops/selective_state_update.js';
import { SELECTIVE_SCAN_INPUTS } from '../../custom-kernels/kernel_names.js';
import { selectiveScanImpl, type ScanArrays } from '../../custom-kernels/shared/selective_scan.js';
import { simdScan } from '../../custom-kernels/wasm/simd_module.js';
import { scanModule } from '../../custom-kernels/wasm/heap_modules.js';
import { countModuleRuns } from '../support/module_runs.js';
import { SELECTIVE_SCAN_SHARED_WASM_BASE64, SELECTIVE_SCAN_WASM_BASE64 } from '../../custom-kernels/wasm/selective_scan_wasm.js';
import { describeBackends } from '../support/backends.js';
import { growHeapOnNextOutput } from '../support/wasm_heap.js';
import { expectCloseRel } from '../support/compare.js';
import { randomScanCase, referenceScan, type ScanCase, type ScanOptions } from '../support/scan_reference.js';
import { scanTensors } from '../support/scan_tensors.js';

const ALL: ScanOptions = { D: true, z: true, deltaBias: true, deltaSoftplus: true, initialState: true };

/** The forward scan through the op; also how many scans the SIMD module ran for it. */
function forward(c: ScanCase): { y: Float32Array; lastState: Float32Array; simdRuns: number } {
  const inputs = scanTensors(c) as Parameters<typeof selectiveScan>[0];
  const { result: { y, lastState }, runs: simdRuns } = countModuleRuns(scanModule,
    () => selectiveScan({ ...inputs, deltaSoftplus: c.deltaSoftplus }));
  const out = { y: y.dataSync() as Float32Array, lastState: lastState.dataSync() as Float32Array, simdRuns };
  tf.dispose([y, lastState, ...Object.values(inputs)]);
  return out;
}

/** The case's inputs as float32 arrays (empty for absent ones), as kernels get them. */
function caseArrays(c: ScanCase): ScanArrays {
  const f32 = (a: Float64Array | null) => (a == null ? new Float32Array(0) : Float32Array.from(a));
  return Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, f32(v)])) as unknown as ScanArrays;
}

/** The JS kernel's y and lastState. */
function jsScan(c: ScanCase): { y: Float32Array; lastState: Float32Array } {
  const { batch, seq, dInner, dState } = c.dims;
  const y = new Float32Array(batch * seq * dInner), lastState = new Float32Array(batch * dInner * dState);
  selectiveScanImpl(caseArrays(c), c.dims, c.deltaSoftplus, y, lastState);
  return { y, lastState };
}

function expectMatchesReference(c: ScanCase, run: { y: Float32Array; lastState: Float32Array }): void {
  const ref = referenceScan(c);
  expectCloseRel('y', run.y, ref.y, 1e-5);
  expectCloseRel('lastState', run.lastState, ref.lastState, 1e-5);
}

describeBackends('selectiveScan, SIMD module', ['wasm'], () => {
  it('runs for dState a multiple of 4, with rows and channel blocks that end part-way (dInner 37)', () => {
    for (const opts of [{}, ALL, { deltaSoftplus: true, z: true }]) {
      const c = randomScanCase(41, { batch: 2, seq: 65, dInner: 37, dState: 8 }, opts);
      const run = forward(c);
      expect(run.simdRuns, JSON.stringify(opts)).to.equal(1);
      expectMatchesReference(c, run);
    }
  });

  it('falls back to the JS kernel for dState not a multiple of 4', () => {
    const c = randomScanCase(42, { batch: 2, seq: 33, dInner: 5, dState: 5 }, ALL);
    const run = forward(c);
    expect(run.simdRuns).to.equal(0);
    expectMatchesReference(c, run);
  });

  it('is right when allocating an output grows the heap mid-call', () => {
    const growth = growHeapOnNextOutput();
    try {
      const c = randomScanCase(43, { batch: 2, seq: 17, dInner: 12, dState: 16 }, ALL);
      const run = forward(c);
      expect(growth.grown).to.equal(true);
      expect(run.simdRuns).to.equal(1);
      expectMatchesReference(c, run);
    } finally {
      growth.restore();
    }
  });

  it('stays finite over 4096 steps of strong decay and matches the JS kernel within 1e-5', () => {
    const c = randomScanCase(44, { batch: 1, seq: 4096, dInner: 24, dState: 16 }, ALL);
    c.inputs.A = c.inputs.A.map((a) => a * 40); // exp(dt A) down to ~e^-100: underflows to 0
    const run = forward(c);
    expect(run.simdRuns).to.equal(1);
    expect(run.y.every(Number.isFinite) && run.lastState.every(Number.isFinite)).to.equal(true);
    const { y, lastState } = jsScan(c);
    expectCloseRel('y', run.y, y, 1e-5);
    expectCloseRel('lastState', run.lastState, lastState, 1e-5);
  });

  it('runs the decode step (selectiveStateUpdate) as the scan with seq 1', () => {
    const c = randomScanCase(46, { batch: 2, seq: 1, dInner: 10, dState: 16 }, ALL);
    const { batch, dInner, dState } = c.dims;
    const t = (a: Float64Array | null, shape: number[]) => tf.tensor(Float32Array.from(a!), shape);
    const args = {
      state: t(c.inputs.initialState, [batch, dInner, dState]), x: t(c.inputs.u, [batch, dInner]),
      dt: t(c.inputs.delta, [batch, dInner]), A: t(c.inputs.A, [dInner, dState]), B: t(c.inputs.B, [batch, dState]),
      C: t(c.inputs.C, [batch, dState]), D: t(c.inputs.D, [dInner]), z: t(c.inputs.z, [batch, dInner]),
      dtBias: t(c.inputs.deltaBias, [dInner]),
    };
    const { result: { y, state }, runs } = countModuleRuns(scanModule, () => selectiveStateUpdate({ ...args, dtSoftplus: true }));
    expect(runs).to.equal(1);
    expectMatchesReference(c, { y: y.dataSync() as Float32Array, lastState: state.dataSync() as Float32Array });
    tf.dispose([y, state, ...Object.values(args)]);
  });
});

describe('the SIMD module on a shared memory (tfjs-backend-wasm\'s threaded build)', () => {
  it('scans in place, as the JS kernel does, also a channel range at a time', () => {
    const c = randomScanCase(47, { batch: 2, seq: 20, dInner: 7, dState: 8 }, ALL);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 16, shared: true });
    const scan = simdScan({ wasm: { wasmMemory: memory } } as unknown as BackendWasm);
    expect(scan).to.be.a('function');
    const heap = new Float32Array(memory.buffer);
    let end = 16; // byte offsets, one array after another
    const place = (a: Float32Array) => {
      heap.set(a, end / 4);
      end += a.length * 4;
      return end - a.length * 4;
    };
    const x = caseArrays(c);
    const pointers = SELECTIVE_SCAN_INPUTS.map((name) => place(x[name]));
    const want = jsScan(c);
    const [y, lastState] = [place(want.y.map(() => NaN)), place(want.lastState.map(() => NaN))];
    const { batch, seq, dInner, dState } = c.dims;
    const [p0, p1, p2, p3, p4, p5, p6, p7, p8] = pointers;
    // flags 31: softplus, D, z, deltaBias, initialState; in two calls of channels, as two threads run it
    scan!(p0, p1, p2, p3, p4, p5, p6, p7, p8, y, lastState, batch, seq, dInner, dState, 31, 0, 3);
    scan!(p0, p1, p2, p3, p4, p5, p6, p7, p8, y, lastState, batch, seq, dInner, dState, 31, 3, dInner);
    expectCloseRel('y', heap.subarray(y / 4, y / 4 + want.y.length), want.y, 1e-5);
    expectCloseRel('lastState', heap.subarray(lastState / 4, lastState / 4 + want.lastState.length), want.lastState, 1e-5);
  });
});

describe('selective_scan_wasm.ts', () => {
  it('holds what selective_scan.wat assembles to (npm run build:wasm)', () => {
    execFileSync('node', ['scripts/build-wasm.mjs', '--check'], { stdio: 'pipe' });
  });

  it('holds builds under the 4 KB that browsers compile synchronously on the main thread', () => {
    for (const base64 of [SELECTIVE_SCAN_WASM_BASE64, SELECTIVE_SCAN_SHARED_WASM_BASE64]) {
      expect(atob(base64).length).to.be.below(4096);
    }
  });
});
