/**
 * The WebGPU scan backward in slices of (batch rows, channels), each slice's recomputed states within
 * a scratch budget: forced at small shapes by lowering the budget, and at a shape whose unsliced
 * scratch passes the device's largest storage binding. Slicing must change no bit of the gradients.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { scanGradScratch, scanGradSlices } from '../../custom-kernels/webgpu/SelectiveScanGrad.js';
import { scanParamsLayout } from '../../custom-kernels/webgpu/scan_params.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { expectCloseRel } from '../support/compare.js';
import { makeRng, normal } from '../support/random.js';
import { randomScanCase, type ScanCase, type ScanDimsT, type ScanOptions } from '../support/scan_reference.js';
import { presentInputs, runScan, type ScanRun } from '../support/scan_tensors.js';

const ALL: ScanOptions = { D: true, z: true, deltaBias: true, deltaSoftplus: true, initialState: true };

/** hs bytes of one channel of one batch row: the unit of the slices. */
const laneBytes = ({ seq, dState }: Pick<ScanDimsT, 'seq' | 'dState'>) => (seq + 1) * dState * 4;

/** Forward and backward on `backend` under a scratch budget, leaving no tensors nor backend data behind. */
async function runOn(backend: string, c: ScanCase, maxBytes = scanGradScratch.maxBytes): Promise<ScanRun> {
  await tf.setBackend(backend);
  const saved = scanGradScratch.maxBytes;
  scanGradScratch.maxBytes = maxBytes;
  try {
    const rng = makeRng(c.dims.seq + c.dims.dInner);
    const { batch, seq, dInner, dState } = c.dims;
    const dataIds = tf.backend().numDataIds();
    const gOut = normal(rng, batch * seq * dInner);
    const run = await expectNoLeaks(() => runScan(c, gOut, normal(rng, batch * dInner * dState)));
    expect(tf.backend().numDataIds(), `${backend} data left behind`).to.equal(dataIds);
    return run;
  } finally {
    scanGradScratch.maxBytes = saved;
    await tf.setBackend('webgpu');
  }
}

/** The largest relative error against the cpu kernel, for the log. */
let worst = 0;

function expectGradsClose(c: ScanCase, actual: ScanRun, expected: ScanRun, rtol: number): void {
  for (const name of presentInputs(c)) {
    worst = Math.max(worst, expectCloseRel(`d/d${name}`, actual.grads[name]!, expected.grads[name]!, rtol));
  }
}

describeBackends('selectiveScan backward in slices', ['webgpu'], () => {
  after(() => console.log(`      max error against the cpu kernel: ${worst.toExponential(2)} of max |gradient|`));

  // [batch, seq, dInner, dState, budget in (batch, channel) lanes, the lanes of each slice, options]
  const cases: [number, number, number, number, number, number[], ScanOptions][] = [
    [1, 257, 7, 16, 3, [3, 3, 1], ALL],
    [3, 2, 5, 1, 10, [10, 5], ALL],                  // two batch rows, then one
    [3, 1, 6, 16, 4, [4, 2, 4, 2, 4, 2], ALL],
    [1, 2, 5, 16, 2, [2, 2, 1], {}],
    [3, 257, 5, 1, 1, Array(15).fill(1), ALL],       // the least a slice can be
    [3, 257, 4, 16, 8, [8, 4], { z: true, deltaSoftplus: true }],
  ];
  // The 8-buffer layout too: the devices with WebGPU's default limits are those that need slicing.
  for (const packed of [false, true]) {
    describe(packed ? 'scan params packed (8 storage buffers)' : 'scan params bound as they are', () => {
      before(() => { scanParamsLayout.forcePacked = packed; });
      after(() => { scanParamsLayout.forcePacked = false; });

      for (const [batch, seq, dInner, dState, lanes, sliceLanes, opts] of cases) {
        const dims = { batch, seq, dInner, dState };
        it(`b${batch} l${seq} d${dInner} n${dState} in slices of ${lanes} lanes: the cpu kernel's gradients, `
          + 'the same bits as unsliced, no leaks', async () => {
          const maxBytes = 2 * lanes * laneBytes(dims);
          expect(scanGradSlices(dims, maxBytes / 2).map((s) => s.rows * s.width)).to.deep.equal(sliceLanes);
          const c = randomScanCase(seq * 13 + dInner, dims, opts);
          const sliced = await runOn('webgpu', c, maxBytes);
          expectGradsClose(c, sliced, await runOn('cpu', c), 1e-5);
          expectGradsClose(c, sliced, await runOn('webgpu', c), 0);
        });
      }
    });
  }

  it('runs where the unsliced states would pass the device\'s largest storage binding or the default budget, '
    + 'the smaller', async () => {
    const device = (tf.backend() as WebGPUBackend).device;
    const limit = Math.min(device.limits.maxStorageBufferBindingSize, scanGradScratch.maxBytes);
    const seq = 2048, dState = 16;
    const dims = { batch: 1, seq, dInner: Math.floor(limit / laneBytes({ seq, dState })) + 1, dState };
    expect(dims.dInner * laneBytes(dims), 'unsliced hs bytes').to.be.greaterThan(limit);
    const c = randomScanCase(17, dims, ALL);
    device.pushErrorScope('validation');
    const run = await runOn('webgpu', c);
    expect(await device.popErrorScope(), 'WebGPU validation error').to.equal(null);
    expectGradsClose(c, run, await runOn('cpu', c), 1e-5);
  });
});
