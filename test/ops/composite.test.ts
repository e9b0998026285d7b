/**
 * What is specific to the composite kernels (public tfjs ops only: what tfjs-node, tfjs-node-gpu and
 * webgl run). The op suites (test/ops/*.test.ts) already run them through KERNEL_BACKENDS on
 * composite:cpu and composite:wasm; here: the chunked path, sequences long enough to overflow a
 * log-space cumulative sum of the decays, and the op-launch counts.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { selectiveScan, type SelectiveScanArgs } from '../../src/ops/selective_scan.js';
import { setScanChunkElements } from '../../custom-kernels/composite/scan_chunks.js';
import { selectiveScanGradImpl, type ScanGrads } from '../../custom-kernels/shared/selective_scan_grad.js';
import type { ScanArrays } from '../../custom-kernels/shared/selective_scan.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { expectClose, expectCloseRel } from '../support/compare.js';
import { makeRng, normal } from '../support/random.js';
import { randomScanCase, referenceScan, type ScanCase } from '../support/scan_reference.js';
import { presentInputs, runScan, scanTensors, type ScanRun } from '../support/scan_tensors.js';

const ALL = { D: true, z: true, deltaBias: true, deltaSoftplus: true, initialState: true };

function cotangents(c: ScanCase, seed: number): [Float64Array, Float64Array] {
  const rng = makeRng(seed);
  const { batch, seq, dInner, dState } = c.dims;
  return [normal(rng, batch * seq * dInner), normal(rng, batch * dInner * dState)];
}

/** runScan with the chunk element cap set to `elements` for its duration. */
async function runChunked(c: ScanCase, gOut: Float64Array, gLast: Float64Array, elements: number): Promise<ScanRun> {
  const previous = setScanChunkElements(elements);
  try {
    return await runScan(c, gOut, gLast);
  } finally {
    setScanChunkElements(previous);
  }
}

/** The typed-array kernels' sequential backward pass (float64 states), as an independent reference. */
function sequentialGrads(c: ScanCase, gOut: Float64Array, gLast: Float64Array): ScanGrads {
  const f32 = (a: Float64Array | null) => (a == null ? new Float32Array(0) : Float32Array.from(a));
  const x = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, f32(v)])) as unknown as ScanArrays;
  const like = (a: Float32Array) => new Float32Array(a.length);
  const out: ScanGrads = {
    du: like(x.u), dDelta: like(x.delta), dA: like(x.A), dB: like(x.B), dC: like(x.C), dD: like(x.D),
    dz: like(x.z), dDeltaBias: like(x.deltaBias), dInitialState: like(x.initialState),
  };
  selectiveScanGradImpl(x, c.dims, c.deltaSoftplus, f32(gOut), f32(gLast), out);
  return out;
}

const GRAD_NAMES = {
  u: 'du', delta: 'dDelta', A: 'dA', B: 'dB', C: 'dC', D: 'dD', z: 'dz', deltaBias: 'dDeltaBias',
  initialState: 'dInitialState',
} as const;

describeBackends('composite kernels', ['composite:cpu', 'composite:wasm'], () => {
  it('gives the same results in chunks (state carried across, checkpoints in the backward) as in one', async () => {
    // 2 * 6 * 4 = 48 elements per position: caps of 48 and 48 * 16 give chunks of 1 and 16 (100 = 6 * 16 + 4).
    const c = randomScanCase(11, { batch: 2, seq: 100, dInner: 6, dState: 4 }, ALL);
    const [gOut, gLast] = cotangents(c, 12);
    await expectNoLeaks(async () => {
      const whole = await runScan(c, gOut, gLast);
      for (const elements of [48, 48 * 16]) {
        const chunked = await runChunked(c, gOut, gLast, elements);
        const what = `chunks of ${elements / 48}`;
        expectCloseRel(`${what}: y`, chunked.y, whole.y, 1e-6);
        expectCloseRel(`${what}: lastState`, chunked.lastState, whole.lastState, 1e-6);
        for (const name of presentInputs(c)) {
          expectCloseRel(`${what}: grad ${name}`, chunked.grads[name]!, whole.grads[name]!, 1e-6);
        }
      }
    });
  });

  it('stays exact where a log-space cumulative sum of the decays overflows (seq 4096)', async () => {
    // dt ~ 1 (softplus of delta + bias) and A in [-2, -0.2]: sum_t dt_t A reaches about -4e3, so
    // exp(-S_t) overflows float32 (and float64) long before the end.
    const c = randomScanCase(21, { batch: 1, seq: 4096, dInner: 4, dState: 4 }, ALL);
    c.inputs.deltaBias = c.inputs.deltaBias!.map((v) => Math.fround(v + 1.5));
    const [gOut, gLast] = cotangents(c, 22);
    const ref = referenceScan(c);
    const seqGrads = sequentialGrads(c, gOut, gLast);
    await expectNoLeaks(async () => {
      // one chunk, and chunks of 256 (1 * 4 * 4 = 16 elements per position)
      for (const elements of [1 << 22, 16 * 256]) {
        const run = await runChunked(c, gOut, gLast, elements);
        expectClose('y', run.y, ref.y, 1e-4);
        expectClose('lastState', run.lastState, ref.lastState, 1e-4);
        for (const name of presentInputs(c)) {
          expectCloseRel(`grad ${name}`, run.grads[name]!, seqGrads[GRAD_NAMES[name]], 1e-4);
        }
      }
    });
  });

  it('launches O(log L) ops in one chunk and O(L / chunk) in chunks', async () => {
    const launches = async (seq: number) => {
      const c = randomScanCase(3, { batch: 1, seq, dInner: 4, dState: 2 }, ALL);
      const inputs = scanTensors(c);
      const profile = await tf.profile(() => {
        const { y, lastState } = selectiveScan({ ...inputs, deltaSoftplus: true } as SelectiveScanArgs);
        return [y, lastState];
      });
      tf.dispose([...Object.values(inputs), ...(profile.result as tf.Tensor[])]);
      return profile.kernels.filter((k) => !k.name.startsWith('Mamba')).length;
    };
    // One at a time: profiles do not nest.
    const whole: Record<number, number> = {};
    for (const seq of [64, 512, 4096]) whole[seq] = await launches(seq);
    // 4 * 2 = 8 elements per position and a cap of 8 * 128 give chunks of 128, as mamba-130m's
    // 1536 x 16 gets under the default cap (launches depend on the chunk length only).
    const previous = setScanChunkElements(8 * 128);
    const chunked: Record<number, number> = {};
    try {
      for (const seq of [512, 4096]) chunked[seq] = await launches(seq);
    } finally {
      setScanChunkElements(previous);
    }
    console.log(`      launches, one chunk: ${JSON.stringify(whole)}; chunks of 128: ${JSON.stringify(chunked)}`);
    expect(whole[4096]).to.be.below(2 * whole[64]);
    expect(chunked[4096] / chunked[512]).to.be.below(8.5);
  });
});
