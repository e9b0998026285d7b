/** The QuantizedGather op (the quantized embedding lookup) on every backend: rows equal the dequantized matrix's. */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { quantizedGather } from '../../src/ops/quantized_gather.js';
import { groupsPerRow, type QuantLayout, wordsPerRow } from '../../custom-kernels/packed_format.js';
import { dequantizeMatrix, quantizeMatrix } from '../../src/weights/packing.js';
import { describeBackends, expectNoLeaks, KERNEL_BACKENDS } from '../support/backends.js';
import { expectClose } from '../support/compare.js';
import { makeRng, normal } from '../support/random.js';

const LAYOUTS: QuantLayout[] = [
  { bits: 8, groupSize: 36, symmetric: true }, // one group per row of 33, rounded up to whole words
  { bits: 4, groupSize: 16, symmetric: false }, // a short last group and a short last word
];

describeBackends('quantizedGather', KERNEL_BACKENDS, () => {
  for (const layout of LAYOUTS) {
    it(`int${layout.bits} ${layout.symmetric ? 'sym' : 'asym'}: rows for ids [2, 3] equal the dequantized matrix's`, async () => {
      const [rows, columns] = [50, 33];
      const q = quantizeMatrix(Float32Array.from(normal(makeRng(layout.bits), rows * columns)), [rows, columns], layout);
      const deq = dequantizeMatrix(q, [rows, columns], layout);
      const groupShape = [rows, groupsPerRow(columns, layout.groupSize)];
      const weight = {
        packed: tf.tensor(q.packed, [rows, wordsPerRow(columns, layout.bits)], 'int32'),
        scales: tf.tensor(q.scales, groupShape), zeros: q.zeros ? tf.tensor(q.zeros, groupShape) : null,
        bits: layout.bits, groupSize: layout.groupSize, inFeatures: columns,
      };
      const ids = [[0, 49, 7], [7, 20, 31]];
      const idsTensor = tf.tensor2d(ids, undefined, 'int32');
      const got = await expectNoLeaks(async () => {
        const out = quantizedGather(idsTensor, weight);
        expect(out.shape).to.deep.equal([2, 3, columns]);
        const values = await out.data();
        out.dispose();
        return values;
      });
      const want = ids.flat().flatMap((r) => [...deq.subarray(r * columns, (r + 1) * columns)]);
      expectClose('rows', got, want, 1e-6);
      tf.dispose([idsTensor, weight.packed, weight.scales, weight.zeros ?? []]);
    });
  }
});
