import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { selectiveScan } from '../../src/ops/selective_scan.js';
import { SelectiveScanGrad } from '../../custom-kernels/kernel_names.js';
import { selectiveScanGradImpl, type ScanGrads } from '../../custom-kernels/shared/selective_scan_grad.js';
import type { ScanArrays } from '../../custom-kernels/shared/selective_scan.js';
import { expf } from '../../custom-kernels/shared/math.js';
import { describeBackends, expectNoLeaks, KERNEL_BACKENDS } from '../support/backends.js';
import { growHeapOnNextOutput } from '../support/wasm_heap.js';
import { expectClose, expectCloseRel } from '../support/compare.js';
import { checkDirectionalDerivative, numericGradient } from '../support/finite_difference.js';
import { makeRng, normal } from '../support/random.js';
import { loadScanFixture } from '../support/scan_fixtures.js';
import {
  randomScanCase, referenceScan, referenceScanLoss, type ScanCase, type ScanDimsT, type ScanInputName, type ScanOptions,
} from '../support/scan_reference.js';
import { presentInputs, runScan, scanTensors } from '../support/scan_tensors.js';

/** Our input names -> the fixtures' (mamba_ssm's) names. */
const FIXTURE_NAMES: Record<ScanInputName, string> = {
  u: 'u', delta: 'delta', A: 'A', B: 'B', C: 'C', D: 'D', z: 'z', deltaBias: 'delta_bias', initialState: 'h0',
};

const OPTION_SETS: Record<string, ScanOptions> = {
  'no optional inputs': {},
  'D': { D: true },
  'z': { z: true },
  'deltaSoftplus': { deltaSoftplus: true },
  'deltaBias + deltaSoftplus': { deltaBias: true, deltaSoftplus: true },
  'deltaBias without softplus': { deltaBias: true },
  'initialState': { initialState: true },
  'all': { D: true, z: true, deltaBias: true, deltaSoftplus: true, initialState: true },
};

/** Random output cotangents for the loss sum(y * gOut) + sum(lastState * gLast). */
function cotangents(c: ScanCase, seed: number): { gOut: Float64Array; gLast: Float64Array } {
  const rng = makeRng(seed);
  const { batch, seq, dInner, dState } = c.dims;
  return { gOut: normal(rng, batch * seq * dInner), gLast: normal(rng, batch * dInner * dState) };
}

/** The reference loss as a function of one input, the others held. */
function lossOf(c: ScanCase, name: ScanInputName, gOut: Float64Array, gLast: Float64Array) {
  return (x: Float64Array) => referenceScanLoss({ ...c, inputs: { ...c.inputs, [name]: x } }, gOut, gLast);
}

describeBackends('selectiveScan', KERNEL_BACKENDS, () => {
  for (const fixture of ['scan-basic', 'scan-h0']) {
    it(`matches mamba_ssm's selective_scan_ref on ${fixture}, forward and backward`, async () => {
      const t = loadScanFixture(fixture);
      try {
        const names = (Object.keys(FIXTURE_NAMES) as ScanInputName[]).filter((n) => t.has(FIXTURE_NAMES[n]));
        const xs = names.map((n) => t.get(FIXTURE_NAMES[n])!);
        const call = (...args: tf.Tensor[]) => selectiveScan({
          ...Object.fromEntries(names.map((n, i) => [n, args[i]])) as { u: tf.Tensor; delta: tf.Tensor; A: tf.Tensor; B: tf.Tensor; C: tf.Tensor },
          deltaSoftplus: true,
        });
        const { y, lastState } = call(...xs);
        expectClose('y', await y.data(), await t.get('out')!.data(), 1e-4);
        expectClose('lastState', await lastState.data(), await t.get('last_state')!.data(), 1e-4);
        tf.dispose([y, lastState]);
        const grads = tf.grads((...args: tf.Tensor[]) => {
          const r = call(...args);
          return tf.add(tf.sum(tf.mul(r.y, t.get('grad_out')!)), tf.sum(tf.mul(r.lastState, t.get('grad_last_state')!))) as tf.Scalar;
        })(xs);
        for (const [i, n] of names.entries()) {
          expectCloseRel(`grad ${n}`, await grads[i].data(), await t.get(`grad.${FIXTURE_NAMES[n]}`)!.data(), 1e-3);
        }
        tf.dispose(grads);
      } finally {
        tf.dispose([...t.values()]);
      }
    });
  }

  for (const seq of [1, 2, 63, 64, 65, 1000]) {
    for (const [label, opts] of Object.entries(OPTION_SETS)) {
      it(`seq ${seq}, ${label}: matches the float64 reference; gradients match finite differences`, async () => {
        const c = randomScanCase(seq * 31 + label.length, { batch: 2, seq, dInner: 3, dState: 4 }, opts);
        const { gOut, gLast } = cotangents(c, seq);
        const run = await runScan(c, gOut, gLast);
        const ref = referenceScan(c);
        expectCloseRel('y', run.y, ref.y, 1e-5);
        expectCloseRel('lastState', run.lastState, ref.lastState, 1e-5);
        for (const name of presentInputs(c)) {
          checkDirectionalDerivative(`d/d${name}`, lossOf(c, name, gOut, gLast), c.inputs[name]!, run.grads[name]!,
            { seed: seq + name.length, rtol: 1e-5 });
        }
      });
    }
  }

  it('dInner 37 (several blocks of channels, the last one partial): matches the reference, forward and backward', async () => {
    const c = randomScanCase(37, { batch: 2, seq: 65, dInner: 37, dState: 5 }, OPTION_SETS.all);
    const { gOut, gLast } = cotangents(c, 38);
    const run = await runScan(c, gOut, gLast);
    const ref = referenceScan(c);
    expectCloseRel('y', run.y, ref.y, 1e-5);
    expectCloseRel('lastState', run.lastState, ref.lastState, 1e-5);
    for (const name of presentInputs(c)) {
      checkDirectionalDerivative(`d/d${name}`, lossOf(c, name, gOut, gLast), c.inputs[name]!, run.grads[name]!, { rtol: 1e-5 });
    }
  });

  it('gradient of every input matches central differences element by element', async () => {
    const c = randomScanCase(7, { batch: 2, seq: 5, dInner: 3, dState: 2 }, OPTION_SETS.all);
    const { gOut, gLast } = cotangents(c, 8);
    const run = await runScan(c, gOut, gLast);
    for (const name of presentInputs(c)) {
      const numeric = numericGradient(lossOf(c, name, gOut, gLast), c.inputs[name]!);
      expectCloseRel(`d/d${name}`, run.grads[name]!, numeric, 1e-4);
    }
  });

  it('gives empty gradients for absent inputs', async () => {
    const c = randomScanCase(3, { batch: 1, seq: 4, dInner: 2, dState: 3 }, {});
    const inputs = scanTensors(c);
    await expectNoLeaks(() => {
      const grads = tf.tidy(() => {
        const empty = tf.zeros([0]);
        const all = { ...inputs, D: empty, z: empty, deltaBias: empty, initialState: empty,
          dy: tf.ones([1, 4, 2]), dLastState: tf.ones([1, 2, 3]) } as tf.NamedTensorMap;
        return tf.engine().runKernel(SelectiveScanGrad, all, { deltaSoftplus: false }) as tf.Tensor[];
      });
      expect(grads.map((g) => g.shape)).to.deep.equal(
        [[1, 4, 2], [1, 4, 2], [2, 3], [1, 4, 3], [1, 4, 3], [0], [0], [0], [0]]);
      tf.dispose(grads);
    });
    tf.dispose(Object.values(inputs));
  });

  it('rejects bad arguments with errors that name them', async () => {
    const c = randomScanCase(5, { batch: 1, seq: 3, dInner: 2, dState: 4 }, {});
    const ok = scanTensors(c) as Record<'u' | 'delta' | 'A' | 'B' | 'C', tf.Tensor>;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ u: tf.zeros([3, 2]) }, /selectiveScan: 'u' must have rank 3, got shape \[3,2\]/],
      [{ u: tf.zeros([1, 0, 2]), delta: tf.zeros([1, 0, 2]) }, /selectiveScan: empty sequence/],
      [{ delta: tf.zeros([1, 3, 5]) }, /'delta' must have shape \[1,3,2\]/],
      [{ A: tf.zeros([3, 4]) }, /'A' must have shape \[2, dState\]/],
      [{ B: tf.zeros([1, 3, 5]) }, /'B' must have shape \[1,3,4\]/],
      [{ C: tf.zeros([1, 3, 4], 'int32') }, /'C' must be float32, got int32/],
      [{ u: 'nope' }, /'u' must be a tf.Tensor/],
      [{ D: tf.zeros([3]) }, /'D' must have shape \[2\]/],
      [{ z: tf.zeros([1, 3]) }, /'z' must have rank 3/],
      [{ deltaBias: tf.zeros([2], 'int32') }, /'deltaBias' must be float32/],
      [{ initialState: tf.zeros([1, 2, 5]) }, /'initialState' must have shape \[1,2,4\]/],
    ];
    await expectNoLeaks(() => {
      for (const [args, pattern] of cases) {
        expect(() => selectiveScan({ ...ok, ...args } as typeof ok), String(pattern)).to.throw(pattern);
      }
    });
    tf.dispose([...Object.values(ok), ...cases.flatMap(([args]) => Object.values(args).filter((v) => v instanceof tf.Tensor))]);
  });

  it('leaves no tensors behind, forward or backward', async () => {
    const c = randomScanCase(9, { batch: 1, seq: 6, dInner: 2, dState: 3 }, OPTION_SETS.all);
    const { gOut, gLast } = cotangents(c, 10);
    await expectNoLeaks(() => runScan(c, gOut, gLast));
    const inputs = scanTensors(c) as Record<'u' | 'delta' | 'A' | 'B' | 'C', tf.Tensor>;
    await expectNoLeaks(() => {
      const { y, lastState } = selectiveScan(inputs);
      tf.dispose([y, lastState]);
    });
    tf.dispose(Object.values(inputs));
  });
});

describeBackends('selectiveScan on a growing wasm heap', ['wasm'], () => {
  it('is right when allocating an output grows the heap (views are taken after every allocation)', async () => {
    const growth = growHeapOnNextOutput();
    try {
      const c = randomScanCase(21, { batch: 2, seq: 9, dInner: 3, dState: 4 }, OPTION_SETS.all);
      const { gOut, gLast } = cotangents(c, 22);
      const ref = referenceScan(c);
      growth.arm();
      const run = await runScan(c, gOut, gLast);
      expect(growth.grown).to.equal(true);
      expectCloseRel('y', run.y, ref.y, 1e-5);
      growth.arm();
      const again = await runScan(c, gOut, gLast);
      for (const name of presentInputs(c)) expectCloseRel(`d/d${name}`, again.grads[name]!, run.grads[name]!, 1e-6);
    } finally {
      growth.restore();
    }
  });
});

describe('selectiveScanGradImpl', () => {
  it('gives the same gradients with chunk checkpoints as with the whole sequence in one chunk', () => {
    const dims: ScanDimsT = { batch: 2, seq: 50, dInner: 3, dState: 4 };
    const c = randomScanCase(11, dims, OPTION_SETS.all);
    const { gOut, gLast } = cotangents(c, 12);
    const f32 = (a: Float64Array | null) => (a == null ? new Float32Array(0) : Float32Array.from(a));
    const x = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, f32(v)])) as unknown as ScanArrays;
    const gradsWith = (chunkLen: number): ScanGrads => {
      const like = (a: Float32Array) => new Float32Array(a.length);
      const out: ScanGrads = {
        du: like(x.u), dDelta: like(x.delta), dA: like(x.A), dB: like(x.B), dC: like(x.C), dD: like(x.D),
        dz: like(x.z), dDeltaBias: like(x.deltaBias), dInitialState: like(x.initialState),
      };
      selectiveScanGradImpl(x, dims, c.deltaSoftplus, f32(gOut), f32(gLast), out, chunkLen);
      return out;
    };
    const whole = gradsWith(1000);
    for (const chunkLen of [1, 7, 25]) expect(gradsWith(chunkLen), `chunk ${chunkLen}`).to.deep.equal(whole);
  });
});

describe('expf', () => {
  it('is e^x within 3e-9 relative, and exact at the edges (underflow, overflow, NaN)', () => {
    const rng = makeRng(13);
    let worst = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = (rng() - 0.5) * 200;
      worst = Math.max(worst, Math.abs(expf(x) / Math.exp(x) - 1));
    }
    expect(worst).to.be.below(3e-9);
    expect(expf(0)).to.equal(1);
    expect(expf(-800)).to.equal(0);
    expect(expf(-740)).to.be.closeTo(Math.exp(-740), Math.exp(-740) * 1e-3); // subnormal
    expect(expf(710)).to.equal(Infinity);
    expect(expf(-Infinity)).to.equal(0);
    expect(expf(NaN)).to.be.NaN;
  });
});
