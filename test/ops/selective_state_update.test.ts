import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { selectiveScan, type SelectiveScanArgs } from '../../src/ops/selective_scan.js';
import { selectiveStateUpdate } from '../../src/ops/selective_state_update.js';
import { describeBackends, expectNoLeaks, KERNEL_BACKENDS } from '../support/backends.js';
import { expectCloseRel } from '../support/compare.js';
import { randomScanCase, referenceScan, type ScanOptions } from '../support/scan_reference.js';
import { scanTensors } from '../support/scan_tensors.js';

const OPTION_SETS: Record<string, ScanOptions> = {
  'no optional inputs': {},
  'D, z': { D: true, z: true },
  'dtBias + dtSoftplus': { deltaBias: true, deltaSoftplus: true },
  'all, from an initial state': { D: true, z: true, deltaBias: true, deltaSoftplus: true, initialState: true },
};

/** Step t of a [batch, seq, channels] tensor as [batch, channels]. */
function step(x: tf.Tensor, t: number): tf.Tensor2D {
  const [batch, , channels] = x.shape;
  return tf.reshape(tf.slice(x, [0, t, 0], [batch, 1, channels]), [batch, channels]);
}

describeBackends('selectiveStateUpdate', KERNEL_BACKENDS, () => {
  for (const [label, opts] of Object.entries(OPTION_SETS)) {
    it(`${label}: token by token equals the full scan's outputs and final state`, async () => {
      const dims = { batch: 2, seq: 20, dInner: 3, dState: 4 };
      const c = randomScanCase(label.length, dims, opts);
      const x = scanTensors(c) as SelectiveScanArgs;
      const [yScan, lastScan, ySteps, lastSteps] = tf.tidy(() => {
        const scan = selectiveScan({ ...x, deltaSoftplus: c.deltaSoftplus });
        let state = x.initialState ?? tf.zeros([dims.batch, dims.dInner, dims.dState]);
        const ys: tf.Tensor[] = [];
        for (let t = 0; t < dims.seq; t++) {
          const r = selectiveStateUpdate({
            state, x: step(x.u, t), dt: step(x.delta, t), A: x.A, B: step(x.B, t), C: step(x.C, t),
            D: x.D, z: x.z && step(x.z, t), dtBias: x.deltaBias, dtSoftplus: c.deltaSoftplus,
          });
          ys.push(r.y);
          state = r.state;
        }
        return [scan.y, scan.lastState, tf.stack(ys, 1), state];
      });
      const [ys, yf, ls, lf] = await Promise.all([ySteps, yScan, lastSteps, lastScan].map((t) => t.data()));
      expectCloseRel('y', ys, yf, 1e-5);
      expectCloseRel('state', ls, lf, 1e-5);
      expectCloseRel('y vs float64 reference', ys, referenceScan(c).y, 1e-5);
      tf.dispose([yScan, lastScan, ySteps, lastSteps, ...Object.values(x)]);
    });
  }

  it('returns a new state and leaves the old one as it was', async () => {
    const state = tf.ones([1, 2, 3]);
    const args = { x: tf.ones([1, 2]), dt: tf.ones([1, 2]), A: tf.fill([2, 3], -1), B: tf.ones([1, 3]), C: tf.ones([1, 3]) };
    await expectNoLeaks(async () => {
      const r = selectiveStateUpdate({ state, ...args });
      expect(r.state).to.not.equal(state);
      expect(Array.from(await state.data())).to.deep.equal([1, 1, 1, 1, 1, 1]);
      // exp(-1) * 1 + 1 * 1 * 1
      expectCloseRel('new state', await r.state.data(), new Float32Array(6).fill(Math.exp(-1) + 1), 1e-6);
      tf.dispose([r.y, r.state]);
    });
    tf.dispose([state, ...Object.values(args)]);
  });

  it('rejects bad arguments with errors that name them', async () => {
    const ok = {
      state: tf.zeros([1, 2, 3]), x: tf.zeros([1, 2]), dt: tf.zeros([1, 2]), A: tf.zeros([2, 3]),
      B: tf.zeros([1, 3]), C: tf.zeros([1, 3]),
    };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ state: tf.zeros([2, 3]) }, /selectiveStateUpdate: 'state' must have rank 3, got shape \[2,3\]/],
      [{ x: tf.zeros([1, 3]) }, /'x' must have shape \[1,2\], got \[1,3\]/],
      [{ dt: tf.zeros([1, 2], 'int32') }, /'dt' must be float32, got int32/],
      [{ A: tf.zeros([2, 4]) }, /'A' must have shape \[2,3\]/],
      [{ B: tf.zeros([1, 1, 3]) }, /'B' must have rank 2/],
      [{ C: tf.zeros([2, 3]) }, /'C' must have shape \[1,3\]/],
      [{ D: tf.zeros([3]) }, /'D' must have shape \[2\]/],
      [{ z: tf.zeros([1, 2], 'int32') }, /'z' must be float32/],
      [{ dtBias: tf.zeros([1, 2]) }, /'dtBias' must have rank 1/],
      [{ x: [0, 0] }, /'x' must be a tf.Tensor/],
    ];
    await expectNoLeaks(() => {
      for (const [args, pattern] of cases) {
        expect(() => selectiveStateUpdate({ ...ok, ...args } as typeof ok), String(pattern)).to.throw(pattern);
      }
    });
    tf.dispose([...Object.values(ok), ...cases.flatMap(([args]) => Object.values(args).filter((v) => v instanceof tf.Tensor))]);
  });
});
