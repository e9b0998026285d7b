/**
 * A model made in memory (not loaded: loading refuses first) whose embedding is larger than the
 * WebGPU device binds (lavapipe: maxStorageBufferBindingSize 128 MiB) is refused with the numbers by
 * the op path (forward, predict), the fused prefill and the fused decoder, where Dawn would only log invalid bind groups
 * and the logits would be garbage; once quantized as the error advises, it runs. Logits at every
 * position past the binding size (they read back as zeros) are refused too, where the last
 * position's still come.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { quantize } from '../../src/quantization/quantize.js';
import { describeBackends } from '../support/backends.js';

describeBackends('a weight past the device\'s binding size', ['webgpu'], () => {
  it('forward, lastLogits and decodeStep name the weight and the limit; quantized, the model runs', async function () {
    this.timeout(120_000);
    const limits = (tf.backend() as unknown as { device: GPUDevice }).device.limits;
    const hiddenSize = 1024;
    const vocabSize = Math.floor(limits.maxStorageBufferBindingSize / (4 * hiddenSize)) + 1;
    if (4 * vocabSize * hiddenSize > limits.maxBufferSize) throw new Error('this device cannot hold the test\'s table at all');
    const model = new MambaForCausalLM({ config: { hiddenSize, numHiddenLayers: 1, vocabSize, stateSize: 4 } });
    const ids = tf.tensor2d([[1, 2, 3]], undefined, 'int32');
    const refusal = new RegExp(`this model does not fit this WebGPU device: (backbone\\.)?embeddings\\.weight takes [\\d.]+ MiB `
      + `\\(${4 * vocabSize * hiddenSize} bytes\\) in one buffer, past its maxStorageBufferBindingSize of [\\d.]+ MiB `
      + `\\(${limits.maxStorageBufferBindingSize} bytes; .*\\)\\. Quantize it`);
    try {
      const before = tf.memory().numTensors;
      expect(() => model.forward(ids)).to.throw(refusal);
      expect(() => model.predict(ids), 'the layers path').to.throw(refusal);
      const cache = model.createCache(1);
      expect(() => model.lastLogits(ids, { cache }), 'the fused prefill').to.throw(refusal);
      expect(() => model.lastLogits(ids, { cache, fused: false }), 'the op path').to.throw(refusal);
      expect(() => model.decodeStep([4], cache), 'the fused decoder').to.throw(refusal);
      cache.dispose();
      expect(tf.memory().numTensors, 'nothing left behind').to.equal(before);

      await quantize(model, { bits: 8 });
      const logits = model.forward(ids).logits;
      const values = await logits.data();
      logits.dispose();
      expect(values.length).to.equal(3 * vocabSize);
      expect(values.every(Number.isFinite), 'finite logits').to.equal(true);
    } finally {
      ids.dispose();
      model.dispose();
    }
  });

  it('logits at every position past the binding size are refused, naming their shape; the last position\'s still come', async function () {
    this.timeout(120_000);
    const limit = (tf.backend() as unknown as { device: GPUDevice }).device.limits.maxStorageBufferBindingSize;
    const vocabSize = 50280;
    const model = new MambaForCausalLM({ config: { hiddenSize: 64, numHiddenLayers: 1, vocabSize, stateSize: 4 } });
    const L = Math.floor(limit / (4 * vocabSize)) + 1;
    const ids = tf.tensor2d([Array.from({ length: L }, (_, i) => (i * 7919) % vocabSize)], undefined, 'int32');
    const refusal = new RegExp(`the logits \\[1, ${L}, ${vocabSize}\\] would take [\\d.]+ MiB \\(${4 * L * vocabSize} bytes\\), past this WebGPU `
      + `device's maxStorageBufferBindingSize .*: ask for the last position's`);
    try {
      expect(() => model.forward(ids)).to.throw(refusal);
      expect(() => model.predict(ids)).to.throw(refusal);
      const last = async (fused: boolean) => {
        const cache = model.createCache(1);
        const logits = model.lastLogits(ids, { cache, fused });
        const values = await logits.data();
        logits.dispose();
        cache.dispose();
        return values;
      };
      const [fused, op] = [await last(true), await last(false)];
      expect(fused.some((v) => v !== 0), 'not zeros').to.equal(true);
      expect(Math.max(...fused.map((v, i) => Math.abs(v - op[i])))).to.be.below(1e-4);
    } finally {
      ids.dispose();
      model.dispose();
    }
  });
});
