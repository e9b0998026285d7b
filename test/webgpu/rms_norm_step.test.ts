/**
 * The decoder's norm step (custom-kernels/webgpu/decode/rms_norm_step.ts) on Dawn over lavapipe against
 * float64: h + delta (`add`) and h as it is (`residual`), batch 2, at hidden sizes whose elements a
 * thread takes are written out (300: two a thread, the second past the row for most) and looped over
 * (4,100: 17 a thread). Both the residual stream it leaves and the normed rows are checked.
 */
import { expect } from 'chai';
import { rmsNormStepKernel } from '../../custom-kernels/webgpu/decode/rms_norm_step.js';
import { makeRng, uniform } from '../support/random.js';
import { compiled, dispatchReading, rawDevice } from './raw_device.js';

describe('rms norm step kernel', function () {
  let device: GPUDevice;
  before(async function () {
    device = (await rawDevice([]))!;
  });
  after(() => device.destroy());

  const B = 2, eps = 1e-5;
  for (const hidden of [300, 4100]) {
    for (const source of ['add', 'residual'] as const) {
      it(`${source}, hidden ${hidden}: h and the normed rows equal float64's`, async function () {
        const rng = makeRng(hidden + source.length);
        const h = uniform(rng, B * hidden, -2, 2), delta = uniform(rng, B * hidden, -1, 1), gamma = uniform(rng, hidden, 0.5, 1.5);
        const kernel = await compiled(device, () => rmsNormStepKernel(device, { batch: B, hidden, eps, source }));
        const f32 = (a: Float64Array) => Float32Array.from(a);
        const bindings = [...(source === 'add' ? [f32(delta)] : []), f32(gamma), f32(h), { output: B * hidden }];
        const [normed, hOut] = await dispatchReading(device, kernel.pipeline, kernel.grid, bindings, [bindings.length - 1, bindings.length - 2]);
        for (let b = 0; b < B; b++) {
          const row = Array.from({ length: hidden }, (_, i) => h[b * hidden + i] + (source === 'add' ? delta[b * hidden + i] : 0));
          const scale = 1 / Math.sqrt(row.reduce((a, v) => a + v * v, 0) / hidden + eps);
          row.forEach((v, i) => {
            expect(hOut[b * hidden + i], `h[${b}, ${i}]`).to.be.closeTo(v, 1e-6 * (1 + Math.abs(v)));
            expect(normed[b * hidden + i], `normed[${b}, ${i}]`).to.be.closeTo(v * scale * gamma[i], 1e-5 * (1 + Math.abs(v * scale * gamma[i])));
          });
        }
      });
    }
  }
});
