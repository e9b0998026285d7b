/** MambaForCausalLM against HF transformers' own outputs on the tiny fixture model. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { describeBackends, expectNoLeaks, KERNEL_BACKENDS } from '../support/backends.js';
import { expectClose, expectCloseRel } from '../support/compare.js';
import { FIXTURES, ref, refIds, TINY } from '../support/reference.js';

describeBackends('MambaForCausalLM on the tiny fixture', KERNEL_BACKENDS, () => {
  let model: MambaForCausalLM;
  before(async () => {
    model = await MambaForCausalLM.fromPretrained(TINY);
  });
  after(() => model.dispose());

  it('logits and every hidden state match HF within 1e-4', async () => {
    const ids = refIds('input_ids');
    const out = model.forward(ids, { outputHiddenStates: true });
    expectClose('logits', await out.logits.data(), ref('logits').values, 1e-4);
    expect(out.hiddenStates).to.have.length(model.config.numHiddenLayers + 1);
    for (const [i, h] of out.hiddenStates!.entries()) {
      expectClose(`hidden_states.${i}`, await h.data(), ref(`hidden_states.${i}`).values, 1e-4);
    }
    tf.dispose([ids, out.logits, ...out.hiddenStates!]);
  });

  it('the loss matches HF within 1e-5 and every parameter gradient within 1e-3 relative', async () => {
    const ids = refIds('input_ids');
    const named = model.namedWeights();
    const { value, grads } = tf.variableGrads(() => model.forward(ids, { labels: ids }).loss!, [...named.values()]);
    expectClose('loss', await value.data(), ref('loss').values, 1e-5);
    for (const [name, variable] of named) {
      expectCloseRel(`grad.${name}`, await grads[variable.name].data(), ref(`grad.${name}`).values, 1e-3);
    }
    tf.dispose([ids, value, ...Object.values(grads)]);
  });

  it('predict equals forward().logits', async () => {
    const ids = refIds('input_ids');
    const predicted = model.predict(ids) as tf.Tensor;
    const out = model.forward(ids);
    expectClose('predict', await predicted.data(), await out.logits.data(), 1e-6);
    tf.dispose([ids, predicted, out.logits]);
  });

  it('leaks no tensors across repeated forward calls', async () => {
    const ids = refIds('input_ids');
    model.forward(ids).logits.dispose();
    await expectNoLeaks(() => {
      for (let i = 0; i < 20; i++) model.forward(ids).logits.dispose();
    });
    ids.dispose();
  });
});

describeBackends('MambaForCausalLM: masks, formats, training, errors', ['cpu', 'wasm', 'webgpu'], (backend) => {
  let model: MambaForCausalLM;
  before(async () => {
    model = await MambaForCausalLM.fromPretrained(TINY);
  });
  after(() => model.dispose());

  it('a left-padded row with its attention mask gives the unpadded row\'s logits', async () => {
    const ids = refIds('batch_generate.input_ids');
    const mask = refIds('batch_generate.attention_mask');
    const maskRows = await mask.array();
    const row = maskRows.findIndex((r) => r.includes(0));
    expect(row, 'the fixture batch has a padded row').to.be.at.least(0);
    const pad = maskRows[row].indexOf(1);
    const seq = ids.shape[1];
    const padded = model.forward(ids, { attentionMask: mask }).logits;
    const alone = tf.tidy(() => ids.slice([row, pad], [1, seq - pad]));
    const unpadded = model.forward(alone).logits;
    const real = tf.tidy(() => padded.slice([row, pad, 0], [1, seq - pad, -1]));
    expectClose('padded row logits', await real.data(), await unpadded.data(), 1e-4);
    tf.dispose([ids, mask, padded, alone, unpadded, real]);
  });

  for (const variant of ['tiny-float16', 'tiny-bfloat16', 'tiny-sharded']) {
    it(`${variant} gives the reference logits within its rounding`, async () => {
      const other = await MambaForCausalLM.fromPretrained(`${FIXTURES}${variant}`);
      const ids = refIds('input_ids');
      const logits = other.forward(ids).logits;
      // F16 keeps 11 significant bits, BF16 8: the weights move by up to 2^-11 / 2^-8 relative.
      const tol = variant === 'tiny-sharded' ? 1e-4 : variant === 'tiny-float16' ? 2e-2 : 1e-1;
      expectClose(`${variant} logits`, await logits.data(), ref('logits').values, tol);
      tf.dispose([ids, logits]);
      other.dispose();
    });
  }

  it('save to file:// and tf.loadLayersModel give the same logits; savePretrained round-trips', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mamba-tfjs-'));
    try {
      await model.save(`file://${dir}/layers`);
      const loaded = await tf.loadLayersModel(`file://${dir}/layers/model.json`);
      expect(loaded).to.be.instanceOf(MambaForCausalLM);
      const ids = refIds('input_ids');
      const a = model.predict(ids) as tf.Tensor;
      const b = loaded.predict(ids) as tf.Tensor;
      for (const [i, w] of model.weights.entries()) expectClose(`loaded ${w.name}`, await loaded.weights[i].read().data(), await w.read().data(), 0);
      // Within rounding, not bit for bit: a GPU backend runs small ops on the CPU while a weight's values
      // are still in JS (tfjs-webgpu's CPU hand-off), and fromPretrained uploads its weights as it loads.
      expectClose('loaded logits', await b.data(), await a.data(), 1e-5);
      await model.savePretrained(`${dir}/hf`);
      const again = await MambaForCausalLM.fromPretrained(`${dir}/hf`);
      for (const [name, v] of model.namedWeights()) {
        expectClose(name, await again.namedWeights().get(name)!.data(), await v.data(), 0);
      }
      tf.dispose([ids, a, b]);
      loaded.dispose();
      again.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('one model.fit epoch on random ids lowers the loss', async () => {
    const fresh = new MambaForCausalLM({ config: model.config });
    const ids = tf.randomUniform([8, 24], 0, 12, 'int32');
    fresh.compile({ optimizer: tf.train.adam(1e-2) });
    const history = await fresh.fit(ids, ids, { epochs: 3, batchSize: 4, verbose: 0 });
    const losses = history.history.loss as number[];
    expect(losses[losses.length - 1], `losses ${losses}`).to.be.lessThan(losses[0]);
    ids.dispose();
    fresh.dispose();
  });

  it('rejects bad inputs with errors that name the problem', () => {
    const bad: [string, () => unknown, RegExp][] = [
      ['float ids', () => model.forward(tf.tensor2d([[1, 2]])), /int32 token ids, got dtype float32/],
      ['rank 1', () => model.forward(tf.tensor1d([1, 2], 'int32')), /shape \[batch, seq\], got rank 1/],
      ['rank 3', () => model.forward(tf.zeros([1, 2, 1], 'int32')), /got rank 3/],
      ['empty', () => model.forward(tf.zeros([1, 0], 'int32')), /empty/],
      ['mask shape', () => model.forward(tf.zeros([1, 3], 'int32'), { attentionMask: tf.ones([1, 2]) }), /attentionMask must have the shape/],
      ['predict floats', () => model.predict(tf.zeros([1, 3])), /int32 token ids/],
    ];
    // A GPU backend checks the id range on the device instead: NaN logits (the webgpu suite below).
    if (backend !== 'webgpu') {
      bad.push(['out of vocabulary', () => model.forward(tf.tensor2d([[1, 96]], [1, 2], 'int32')),
        /outside the vocabulary \[0, 96\)/]);
    }
    for (const [what, call, message] of bad) {
      expect(call, what).to.throw(message);
    }
  });

  it('labels: a value neither a token id nor -100 is named (host) or gives a NaN loss (GPU); one token is refused before any work; nothing leaks', async () => {
    const ids = tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8]], [2, 4], 'int32');
    for (const wrong of [96, -1, 2.5]) {
      const labels = tf.tensor2d([[1, 2, wrong, 4], [5, 6, 7, 8]], [2, 4], wrong === 2.5 ? 'float32' : 'int32');
      await expectNoLeaks(async () => {
        if (backend === 'webgpu') {
          const out = model.forward(ids, { labels });
          expect(Number.isNaN((await out.loss!.data())[0]), `label ${wrong}`).to.equal(true);
          tf.dispose([out.logits, out.loss!]);
        } else {
          expect(() => model.forward(ids, { labels }), `label ${wrong}`).to.throw(RangeError, new RegExp(`labels\\[0\\]\\[2\\] is ${wrong}: a label is a token id in \\[0, 96\\) or -100`));
        }
      });
      labels.dispose();
    }
    const one = tf.tensor2d([[1], [2]], [2, 1], 'int32');
    await expectNoLeaks(() => expect(() => model.forward(one, { labels: one, outputHiddenStates: true })).to.throw(/at least 2 tokens a row/));
    // -100 is ignored, as in HF: the loss of the other labels
    const ignored = tf.tensor2d([[1, -100, 3, 4], [5, 6, -100, 8]], [2, 4], 'int32');
    const out = model.forward(ids, { labels: ignored });
    expect(Number.isFinite((await out.loss!.data())[0])).to.equal(true);
    tf.dispose([ids, one, ignored, out.logits, out.loss!]);
  });

  it('fit and evaluate leave no tensors behind; a cache of another model is refused before any state changes', async () => {
    const fresh = new MambaForCausalLM({ config: model.config });
    fresh.compile({ optimizer: tf.train.sgd(1e-3) });
    const ids = tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8]], [2, 4], 'int32');
    await fresh.fit(ids, ids, { epochs: 1, verbose: 0 });   // (the optimizer's slots are made at the first)
    await expectNoLeaks(async () => {
      for (let i = 0; i < 3; i++) await fresh.fit(ids, ids, { epochs: 1, verbose: 0 });
      tf.dispose(fresh.evaluate(ids, ids) as tf.Scalar);
    });
    const other = new MambaForCausalLM({ config: { ...model.config.toJSON(), num_hidden_layers: model.config.numHiddenLayers + 1 } });
    const cache = other.createCache(2);
    expect(() => model.forward(ids, { cache })).to.throw(/the cache was made for another model: its numLayers is \d+, the model's \d+/);
    expect(cache.seqLen).to.equal(0);
    tf.dispose(ids);
    cache.dispose();
    other.dispose();
    fresh.dispose();
  });

  it('a one-token step with a 0 in its attention mask equals the whole masked sequence (the conv output masked too, as HF)', async () => {
    const ids = tf.tensor2d([[3, 9, 27, 14, 5, 60]], [1, 6], 'int32');
    const mask = tf.tensor2d([[1, 1, 1, 0, 1, 1]], [1, 6], 'int32');
    const whole = model.forward(ids, { attentionMask: mask }).logits;
    const cache = model.createCache(1);
    const steps: tf.Tensor[] = [model.forward(ids.slice([0, 0], [1, 3]), { attentionMask: mask.slice([0, 0], [1, 3]), cache }).logits];
    for (let t = 3; t < 6; t++) steps.push(model.forward(ids.slice([0, t], [1, 1]), { attentionMask: mask.slice([0, t], [1, 1]), cache }).logits);
    const stepped = tf.concat(steps, 1);
    expectClose('stepped vs whole', await stepped.data(), await whole.data(), 1e-5);
    tf.dispose([ids, mask, whole, stepped, ...steps]);
    cache.dispose();
  });
});

describeBackends('MambaForCausalLM on a GPU backend: ids checked without a sync readback', ['webgpu'], () => {
  let model: MambaForCausalLM;
  before(async () => {
    model = await MambaForCausalLM.fromPretrained(TINY);
  });
  after(() => model.dispose());

  it('reuses ids across forward calls, and an out-of-range id gives NaN logits at its position only', async () => {
    const ids = tf.tensor2d([[1, 2, 3]], [1, 3], 'int32');
    const first = model.forward(ids).logits;
    const second = model.forward(ids).logits;
    expectClose('same ids twice', await second.data(), await first.data(), 0);
    const bad = tf.tensor2d([[1, 96, 3]], [1, 3], 'int32');
    const poisoned = (await model.forward(bad).logits.array())[0];
    expect(poisoned[0].every(Number.isFinite), 'position before the bad id').to.equal(true);
    expect(poisoned[1].every(Number.isNaN), 'the bad id\'s position').to.equal(true);
    tf.dispose([ids, first, second, bad]);
  });

  it('generate rejects an out-of-range id with a clear error', async () => {
    const bad = tf.tensor2d([[1, 96]], [1, 2], 'int32');
    let error: Error | null = null;
    await model.generate(bad, { maxNewTokens: 1 }).catch((e: Error) => { error = e; });
    expect(String(error)).to.match(/outside the vocabulary \[0, 96\)/);
    bad.dispose();
  });
});
