/**
 * The read-only kernel bench/roofline.ts times as a stand-in for each decoder dispatch
 * (bench/routines/reader.ts), on Dawn over lavapipe: each unit of the read is read once and no unit
 * past it, in every layout shape (sweeps, units in flight, a grid past 65,535 workgroups): the sums
 * the threads leave add up to the buffer's sum, taken here.
 */
import { expect } from 'chai';
import { computePipeline } from '../../custom-kernels/webgpu/decode/pipeline.js';
import { type ReaderLayout, readerGrid, readerSinkWords, readerSource } from '../../bench/routines/reader.js';
import { dispatchReading, rawDevice } from './raw_device.js';

/** The sum of the first `units` 16-byte units of `words`, mod 2^32. */
function unitSum(words: Uint32Array, units: number): number {
  let sum = 0;
  for (let i = 0; i < 4 * units; i++) sum = (sum + words[i]) >>> 0;
  return sum;
}

describe('read-only stand-in kernel (bench/roofline.ts)', function () {
  this.timeout(120_000);
  let device: GPUDevice;
  before(async function () {
    device = (await rawDevice([]))!;
  });
  after(() => device.destroy());

  const cases: [string, number, ReaderLayout][] = [
    ['one sweep, whole workgroups', 32 * 4 * 6, { threads: 32, unitsInFlight: 4, sweeps: 1 }],
    ['several sweeps, the last workgroup short', 5_000, { threads: 64, unitsInFlight: 2, sweeps: 8 }],
    ['16 in flight, fewer units than a workgroup takes', 300, { threads: 128, unitsInFlight: 16, sweeps: 4 }],
    ['one unit', 1, { threads: 256, unitsInFlight: 8, sweeps: 2 }],
    ['a grid past 65,535 workgroups', 32 * 65_535 + 5, { threads: 32, unitsInFlight: 1, sweeps: 1 }],
  ];
  for (const [what, units, layout] of cases) {
    it(`${what}: ${units} units as ${layout.threads} threads x ${layout.unitsInFlight} in flight x ${layout.sweeps} sweeps`, async () => {
      // words past the read (another 3 units) must not count
      const words = new Uint32Array(4 * (units + 3));
      for (let i = 0; i < words.length; i++) words[i] = Math.imul(i + 1, 0x9e3779b1) >>> 0;
      const pipeline = computePipeline(device, readerSource(units, layout, true));
      const grid = readerGrid(units, layout);
      if (units > 32 * 65_535) expect(grid[1], 'rows of the grid').to.equal(2);
      const [sink] = await dispatchReading(device, pipeline, grid, [new Int32Array(words.buffer), { output: readerSinkWords(units, layout) }], [1]);
      const sums = new Uint32Array(sink.buffer);
      let total = 0;
      for (let i = 1; i < sums.length; i++) total = (total + sums[i]) >>> 0;
      expect(total).to.equal(unitSum(words, units));
      expect(total, 'the units past the read are not summed').to.not.equal(unitSum(words, units + 3));
    });
  }
});
