/**
 * The fused WebGPU prefill of float16 models on a device with subgroup matrices (Mesa 26's lavapipe,
 * test/support/subgroup_matrices.ts), where its projections round x to float16 and run on matrices
 * (custom-kernels/webgpu/gemm/subgroup_matrix_gemm.ts): HF's F16 checkpoint gives HF's float32 last
 * logits within 2e-2 and its greedy ids; random float16 models (biases, hidden sizes whose tiles
 * have edges, K split for short prompts, prompts in chunks) stay within 1e-2 of the op path, which
 * multiplies float32 x; nothing leaks.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { chooseTile } from '../../custom-kernels/webgpu/gemm/gemm.js';
import { isMatrixTile } from '../../custom-kernels/webgpu/gemm/subgroup_matrix_gemm.js';
import { prefill } from '../../src/generation/prefill.js';
import { toFloat16 } from '../../src/quantization/float16.js';
import { quantize } from '../../src/quantization/quantize.js';
import { initWebGPU } from '../../src/webgpu/init.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { expectCloseRel } from '../support/compare.js';
import { expectF16FixtureLikeHF } from '../support/f16_fixture.js';
import { promptIds, randomModel } from '../support/random_model.js';
import { describeOnSubgroupMatrices, UNSAFE_APIS } from '../support/subgroup_matrices.js';

/** The fused path (x rounded to float16 on matrices) against the op path (float32 x): relative to each tensor's largest value. */
const MATRIX_RTOL = 1e-2;

describeOnSubgroupMatrices('WebGPU fused prefill on subgroup matrices', import.meta.url, () => {
  before(async () => {
    await initWebGPU({ dawnFlags: [UNSAFE_APIS] });   // before describeBackends starts webgpu without the toggle
  });

  describeBackends('float16 and packed weights', ['webgpu'], () => {
    it('projects on subgroup matrices: the device offers them, and every projection of a float16 or packed model takes them', () => {
      const device = (tf.backend() as WebGPUBackend).device;
      for (const [M, N] of [[1, 8], [40, 64], [512, 3072]]) {
        expect(isMatrixTile(chooseTile(device, M, N, 'float16')), `${M}x${N}`).to.equal(true);
        expect(isMatrixTile(chooseTile(device, M, N, { bits: 4, groupSize: 32, inFeatures: 64, hasZeros: false })), `${M}x${N} int4`).to.equal(true);
      }
    });

    it('gives HF\'s last logits within 2e-2 for the F16 checkpoint loaded as float16 weights, and its greedy ids', expectF16FixtureLikeHF);

    /** [title, config overrides, the model's weights: float16, or packed codes] */
    const MODELS: [string, Record<string, unknown>, 'float16' | { bits: 8 | 4; symmetric: boolean }][] = [
      ['float16, with biases', { useBias: true }, 'float16'],
      ['float16, hidden 300 (tiles with edges, in_proj and out_proj split in K at short prompts)', { hiddenSize: 300 }, 'float16'],
      ['int8 codes with zero points', { useBias: true }, { bits: 8, symmetric: false }],
      ['int4 codes, symmetric, hidden 300', { hiddenSize: 300 }, { bits: 4, symmetric: true }],
    ];
    MODELS.forEach(([title, overrides, weights], k) => {
      it(`equals the op path within ${MATRIX_RTOL}, ${title}: prompts of 1, 6, 40 and 90 tokens (in chunks of 45)`, async () => {
        const model = randomModel(overrides, 70 + k);
        if (weights === 'float16') await toFloat16(model);
        else await quantize(model, { ...weights, groupSize: 32 });
        let worst = 0;
        await expectNoLeaks(async () => {
          for (const [seq, chunkSize] of [[1], [6], [40], [90, 45]]) {
            const ids = promptIds(2, seq, model.config.vocabSize, seq + k);
            const caches = [model.createCache(2), model.createCache(2)];
            const fused = (await prefill(model, ids, caches[0], { chunkSize }))!;
            const plain = (await prefill(model, ids, caches[1], { chunkSize, fused: false }))!;
            worst = Math.max(worst, expectCloseRel(`${seq} tokens: last logits`, await fused.data(), await plain.data(), MATRIX_RTOL));
            const states = (c: typeof caches[0]) => [...c.convStates, ...c.ssmStates];
            const [a, b] = [states(caches[0]), states(caches[1])];
            for (let i = 0; i < a.length; i++) {
              worst = Math.max(worst, expectCloseRel(`${seq} tokens: state ${i}`, await a[i].data(), await b[i].data(), MATRIX_RTOL));
            }
            tf.dispose([ids, fused, plain]);
            caches.forEach((c) => c.dispose());
          }
        });
        console.log(`      worst relative difference from the op path: ${worst.toExponential(1)}`);
        // float32 products would agree to about 1e-6: a larger difference is x (and W) rounded, the matrices' doing
        expect(worst, 'the projections ran on subgroup matrices').to.be.above(1e-4);
        model.dispose();
      });
    });
  });
});
