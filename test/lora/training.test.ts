/**
 * Training through LoRA on the tiny model: a custom Adam loop and model.fit move the adapters
 * and nothing else, 50 steps on text lower the loss, dropout acts only while training, and the
 * cached (generation) paths give the full forward's logits with adapters on every module.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { generate } from '../../src/generation/generate.js';
import { loraWeights } from '../../src/lora/adapter_io.js';
import { applyLora } from '../../src/lora/apply.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { causalLmLoss } from '../../src/model/loss.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { expectClose } from '../support/compare.js';
import { TINY } from '../support/reference.js';

const ALL = ['in_proj', 'x_proj', 'dt_proj', 'out_proj', 'conv1d', 'embeddings'];

/** A few lines of /work/shared/data/quotes.txt; the tiny model's 96 ids are printable ASCII here. */
const TEXT = [
  'You swing at the Sun.  You miss.  The Sun swings.',
  'A journey of a thousand miles begins with a single step.',
  'The only way to have a friend is to be one, said the man.',
  'Love is patient, love is kind, and love never gives up.',
];

/** [lines, seq] ids: character code - 32, lines cut to `seq`. */
function textIds(seq: number): tf.Tensor2D {
  const ids = TEXT.map((line) => Array.from(line.slice(0, seq), (ch) => Math.min(95, Math.max(0, ch.charCodeAt(0) - 32))));
  return tf.tensor2d(ids, [TEXT.length, seq], 'int32');
}

/** Copies of the values of every base weight, by HF name. */
function snapshot(model: MambaForCausalLM): Map<string, Float32Array> {
  return new Map([...model.namedLayerVariables()].map(([name, v]) => [name, Float32Array.from(v.read().dataSync())]));
}

function bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function expectBaseUnchanged(model: MambaForCausalLM, before: Map<string, Float32Array>): void {
  for (const [name, v] of model.namedLayerVariables()) {
    const now = v.read().dataSync() as Float32Array;
    expect(bytes(now).equals(bytes(before.get(name)!)), `${name} changed`).to.equal(true);
  }
}

// cpu and wasm: the LoRA paths are the same on every kernel set, and the composite scan gradient is slow on cpu.
describeBackends('LoRA: training', ['cpu', 'wasm'], () => {
  let model: MambaForCausalLM;
  let ids: tf.Tensor2D;
  beforeEach(async () => {
    model = await MambaForCausalLM.fromPretrained(TINY);
    ids = textIds(24);
  });
  afterEach(() => {
    model.dispose();
    ids.dispose();
  });

  it('10 Adam steps (minimize with the adapters as varList) move every adapter and leave the base bit-identical', () => {
    applyLora(model, { r: 4, alpha: 8, targetModules: ALL });
    const base = snapshot(model);
    const adapters = loraWeights(model);
    const initial = new Map([...adapters].map(([k, v]) => [k, v.clone()]));
    const optimizer = tf.train.adam(1e-2);
    for (let step = 0; step < 10; step++) {
      optimizer.minimize(() => model.forward(ids, { labels: ids, training: true }).loss!, false, [...adapters.values()]);
    }
    expectBaseUnchanged(model, base);
    for (const [key, v] of adapters) {
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(v, initial.get(key)!))).dataSync()[0]), `${key} moved`).to.be.above(0);
    }
    tf.dispose([...initial.values()]);
    optimizer.dispose();
  });

  it('50 LoRA steps on text lower the loss; minimize without a varList also trains only the adapters', () => {
    applyLora(model, { r: 8, alpha: 16, targetModules: ['in_proj', 'x_proj', 'out_proj', 'embeddings'] });
    const base = snapshot(model);
    const optimizer = tf.train.adam(1e-2);
    const losses: number[] = [];
    for (let step = 0; step < 50; step++) {
      const loss = optimizer.minimize(() => model.forward(ids, { labels: ids, training: true }).loss!, true)!;
      losses.push(loss.dataSync()[0]);
      loss.dispose();
    }
    expect(losses[49], `loss ${losses[0]} -> ${losses[49]}`).to.be.below(losses[0] - 0.5);
    expectBaseUnchanged(model, base);
    optimizer.dispose();
  });

  it('model.fit, compiled before applyLora, trains the adapters alone and lowers the loss', async () => {
    model.compile({ optimizer: tf.train.adam(1e-2), loss: causalLmLoss });
    applyLora(model, { r: 4, alpha: 8, targetModules: ['in_proj', 'out_proj', 'embeddings'] });
    const base = snapshot(model);
    const history = await model.fit(ids, ids, { epochs: 5, batchSize: 4, verbose: 0 });
    const loss = history.history.loss as number[];
    expect(loss[4], `loss ${loss}`).to.be.below(loss[0]);
    expectBaseUnchanged(model, base);
  });

  it('a cached prefill, a continued prefill and single-token steps give the full forward\'s logits with adapters everywhere', () => {
    // initLoraWeights false: B is not zero, so every adapter changes the output.
    applyLora(model, { r: 4, alpha: 4, targetModules: ALL, initLoraWeights: false });
    const seq = 12;
    const full = model.forward(ids.slice([0, 0], [4, seq]));
    const cache = model.backbone.createCache(4);
    const parts = [[0, 5], [5, 3], [8, 1], [9, 1], [10, 1], [11, 1]].map(([start, len]) =>
      model.forward(ids.slice([0, start], [4, len]), { cache }).logits);
    const stepped = tf.concat(parts, 1);
    expectClose('cached logits', stepped.dataSync(), full.logits.dataSync(), 1e-4);
    tf.dispose([full.logits, stepped, ...parts]);
    cache.dispose();
  });

  it('generate (greedy) with adapters picks the argmax of the full forward at every step', async () => {
    applyLora(model, { r: 4, alpha: 4, targetModules: ALL, initLoraWeights: false });
    const prompt = ids.slice([0, 0], [2, 6]);
    // An explicit mask: without one, generate (as HF's) reads prompt ids equal to the pad id (0, a space
    // here) as padding, which the unmasked full forward below would not.
    const attentionMask = tf.onesLike(prompt);
    const generated = await generate(model, prompt, { maxNewTokens: 5, doSample: false, eosTokenId: null, attentionMask });
    for (const row of generated) {
      for (let t = 6; t < row.length; t++) {
        const scores = tf.tidy(() => {
          const logits = model.forward(tf.tensor2d([row.slice(0, t)], [1, t], 'int32')).logits;
          return logits.slice([0, t - 1, 0], [1, 1, -1]).reshape([-1]).dataSync();
        });
        // The cached and full paths agree to ~1e-6, so with random weights a near-tie may go either way.
        expect(scores[row[t]], `token ${t}: logit of the chosen id vs the best`).to.be.at.least(Math.max(...scores) - 1e-4);
      }
    }
    tf.dispose([prompt, attentionMask]);
  });

  it('dropout acts only when training', () => {
    applyLora(model, { r: 4, alpha: 8, dropout: 0.5, targetModules: ['in_proj', 'x_proj'], initLoraWeights: false });
    const evalA = model.forward(ids).logits;
    const evalB = model.forward(ids, { training: false }).logits;
    const trainA = model.forward(ids, { training: true }).logits;
    expectClose('eval logits', evalB.dataSync(), evalA.dataSync(), 0);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(trainA, evalA))).dataSync()[0])).to.be.above(1e-3);
    tf.dispose([evalA, evalB, trainA]);
  });

  it('a training step leaks no tensors', async () => {
    applyLora(model, { r: 4, alpha: 8, targetModules: ALL });
    const optimizer = tf.train.adam(1e-3);
    const step = () => tf.dispose(optimizer.minimize(() => model.forward(ids, { labels: ids, training: true }).loss!, true)!);
    step(); // Adam makes its moment variables on the first step
    await expectNoLeaks(() => { step(); step(); });
    optimizer.dispose();
  });
});
