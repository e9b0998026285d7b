/**
 * Quantized models: logits against float32 (int8) and against the float model over the same
 * dequantized weights (int4), greedy generation, save -> load, memory, errors.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import type { MambaConfigInit } from '../../src/config.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { MambaModel } from '../../src/model/mamba_model.js';
import { applyLora } from '../../src/lora/apply.js';
import { quantizationOf, quantize, type QuantizeOptions } from '../../src/quantization/quantize.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { expectClose, maxAbs, maxAbsDiff } from '../support/compare.js';
import { refIds, TINY } from '../support/reference.js';
import { dequantizedInPlace, seededModel } from './synthetic_model.js';
import { expectReject } from '../support/rejection.js';

/** The fixture tokenizer's vocabulary; every input dim a multiple of the group (dt_proj's too). */
const TEXT_SHAPE: MambaConfigInit = {
  vocabSize: 2048, hiddenSize: 128, intermediateSize: 256, numHiddenLayers: 2, stateSize: 16, timeStepRank: 128,
};
const IDS = [[1, 17, 250, 3, 999, 42, 7, 1500], [5, 6, 7, 8, 9, 10, 11, 2047]];

async function logits(model: MambaForCausalLM, ids: number[][]): Promise<Float32Array> {
  const input = tf.tensor2d(ids, undefined, 'int32');
  const out = model.forward(input).logits;
  const values = await out.data() as Float32Array;
  tf.dispose([input, out]);
  return values;
}

async function tinyQuantized(options: QuantizeOptions): Promise<MambaForCausalLM> {
  const model = await MambaForCausalLM.fromPretrained(TINY);
  await quantize(model, options);
  return model;
}

describeBackends('quantized models', ['cpu', 'wasm', 'composite:cpu', 'webgpu'], () => {
  const tinyIds = [[0, 11, 23, 95, 4, 60, 7], [3, 3, 80, 1, 42, 2, 9]];
  let float: MambaForCausalLM;
  let floatLogits: Float32Array;
  before(async () => {
    float = await MambaForCausalLM.fromPretrained(TINY);
    floatLogits = await logits(float, tinyIds);
  });
  after(() => float.dispose());

  it('tiny, int8: logits within 2e-2 of float32 (HF\'s reference input and another batch)', async () => {
    const model = await tinyQuantized({ bits: 8 });
    const hfIds = refIds('input_ids');
    const ids = await hfIds.array() as number[][];
    expectClose('int8 logits, reference input', await logits(model, ids), await logits(float, ids), 2e-2);
    expect(expectClose('int8 logits', await logits(model, tinyIds), floatLogits, 2e-2)).to.be.above(0);
    disposeAll(model, hfIds);
  });

  for (const options of [{ bits: 4 }, { bits: 4, symmetric: true, groupSize: 32 }, { bits: 8, symmetric: true }] as const) {
    it(`tiny, ${JSON.stringify(options)}: logits equal the float model over the same dequantized weights`, async () => {
      const model = await tinyQuantized(options);
      const reference = await MambaForCausalLM.fromPretrained(TINY);
      await dequantizedInPlace(reference, options);
      expectClose('quantized vs dequantized float', await logits(model, tinyIds), await logits(reference, tinyIds), 1e-4);
      // The quantization error itself is far larger: the comparison above is not vacuous.
      expect(maxAbsDiff(await logits(model, tinyIds), floatLogits).err).to.be.above(1e-3);
      disposeAll(model, reference);
    });
  }

  it('predict equals forward; the cached decode equals the full forward', async () => {
    const model = await tinyQuantized({ bits: 4 });
    const ids = tf.tensor2d(tinyIds, undefined, 'int32');
    const predicted = model.predict(ids) as tf.Tensor;
    expectClose('predict', await predicted.data(), await logits(model, tinyIds), 1e-6);
    const cache = model.backbone.createCache(2);
    const prefix = model.forward(ids.slice([0, 0], [2, 6]), { cache });
    const step = model.forward(ids.slice([0, 6], [2, 1]), { cache });
    const full = await logits(model, tinyIds);
    const last = Float32Array.from({ length: 2 * 96 }, (_, i) => full[(Math.floor(i / 96) * 7 + 6) * 96 + (i % 96)]);
    expectClose('decode step', await step.logits.data(), last, 1e-4);
    disposeAll(ids, predicted, prefix.logits, step.logits, model);
    cache.dispose();
  });

  it('quantize, forward and dispose leave no tensors behind', async () => {
    await expectNoLeaks(async () => {
      const model = await tinyQuantized({ bits: 4 });
      await logits(model, tinyIds);
      model.dispose();
    });
  });
});

describeBackends('quantized models: the fixture tokenizer shape', ['cpu', 'wasm'], () => {
  it('int8 and int4 logits equal their dequantized float models, int8 within 2% of the largest logit', async () => {
    const float = seededModel(TEXT_SHAPE, 3);
    const floatLogits = await logits(float, IDS);
    const models: Record<string, MambaForCausalLM> = {};
    for (const bits of [8, 4] as const) {
      const model = models[bits] = seededModel(TEXT_SHAPE, 3);
      await quantize(model, { bits });
      const reference = seededModel(TEXT_SHAPE, 3);
      await dequantizedInPlace(reference, { bits });
      expectClose(`int${bits} vs dequantized float`, await logits(model, IDS), await logits(reference, IDS), 1e-4);
      reference.dispose();
    }
    // Round-to-nearest int8 moves each weight by up to 1/510 of its group's range: about 1% at the
    // logits of this HF-initialised model (logits up to ~8), more than 2e-2 absolute.
    expectClose('int8 logits', await logits(models[8], IDS), floatLogits, 0.02 * maxAbs(floatLogits));
    disposeAll(float, models[8], models[4]);
  });

  it('greedy generation on the fixture tokenizer\'s model shape: int8 and int4 pick float32\'s first tokens', async () => {
    const shape: MambaConfigInit = { vocabSize: 2048, hiddenSize: 32, numHiddenLayers: 2, stateSize: 8 };
    const prompt = tf.tensor2d(IDS, undefined, 'int32');
    const options = { maxNewTokens: 4, doSample: false, eosTokenId: null };
    const float = seededModel(shape, 1);
    const want = await float.generate(prompt, options);
    for (const bits of [8, 4] as const) {
      const model = seededModel(shape, 1);
      await quantize(model, { bits });
      expect(await model.generate(prompt, options), `int${bits} greedy tokens`).to.deep.equal(want);
      model.dispose();
    }
    disposeAll(float, prompt);
  });
});

describeBackends('quantized models: save, load, memory, LoRA, errors', ['cpu'], () => {
  let dir: string;
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mamba-tfjs-quant-')); });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

  for (const options of [{ bits: 8 }, { bits: 4, symmetric: true, embeddingBits: 4 }] as const) {
    it(`${JSON.stringify(options)}: savePretrained -> fromPretrained gives identical logits and settings`, async () => {
      const model = await tinyQuantized(options);
      await model.savePretrained(dir);
      const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      expect(config.quantization_config).to.deep.include({
        quant_method: 'mamba-tfjs', bits: options.bits, group_size: 128, symmetric: 'symmetric' in options,
        embedding_bits: 'embeddingBits' in options ? 4 : 8,
      });
      const loaded = await MambaForCausalLM.fromPretrained(dir);
      expect(quantizationOf(loaded)).to.deep.equal(quantizationOf(model));
      expect([...await logits(loaded, [[1, 2, 3, 90]])]).to.deep.equal([...await logits(model, [[1, 2, 3, 90]])]);
      expect(loaded.generationConfig).to.deep.equal(model.generationConfig);
      // The packed weights stay packed: a second save writes the same file.
      await loaded.savePretrained(join(dir, 'again'));
      expect(Buffer.compare(await readFile(join(dir, 'model.safetensors')), await readFile(join(dir, 'again', 'model.safetensors')))).to.equal(0);
      const backbone = await MambaModel.fromPretrained(dir);
      expect(quantizationOf(backbone)?.modules).to.include('backbone.embeddings');
      disposeAll(model, loaded, backbone);
    });
  }

  it('fromPretrained(dtype) quantizes a float checkpoint; an untied head is quantized and saved too', async () => {
    const model = await MambaForCausalLM.fromPretrained(TINY, { dtype: 'int4' });
    expect(quantizationOf(model)).to.include({ bits: 4, groupSize: 128, symmetric: false, embeddingBits: 8 });
    model.dispose();
    const untied = seededModel({ ...TEXT_SHAPE, vocabSize: 64, tieWordEmbeddings: false }, 5);
    await untied.savePretrained(dir);
    const q = await MambaForCausalLM.fromPretrained(dir, { dtype: 'int8' });
    expect(quantizationOf(q)?.modules).to.include('lm_head');
    await untied.dispose();
    await q.savePretrained(join(dir, 'q'));
    const reloaded = await MambaForCausalLM.fromPretrained(join(dir, 'q'));
    expect([...await logits(reloaded, [[1, 2, 3]])]).to.deep.equal([...await logits(q, [[1, 2, 3]])]);
    const backbone = await MambaModel.fromPretrained(join(dir, 'q'));
    expect(quantizationOf(backbone)?.modules).to.not.include('lm_head');
    disposeAll(q, reloaded, backbone);
  });

  it('resident weight bytes: int8 <= 30%, int4 <= 17% (int4 embeddings) of float32 on a mid-size model', async () => {
    const shape: MambaConfigInit = { vocabSize: 4096, hiddenSize: 256, numHiddenLayers: 4, stateSize: 16 };
    const resident = async (options: QuantizeOptions | null) => {
      const before = tf.memory().numBytes;
      const model = seededModel(shape, 2);
      if (options) await quantize(model, options);
      const bytes = tf.memory().numBytes - before;
      model.dispose();
      return bytes;
    };
    const float = await resident(null);
    const int8 = await resident({ bits: 8 }) / float;
    const int4 = await resident({ bits: 4, embeddingBits: 4 }) / float;
    const int4Int8Rows = await resident({ bits: 4 }) / float;
    expect(int8, 'int8').to.be.at.most(0.30);
    expect(int4, 'int4').to.be.at.most(0.17);
    // int8 embedding rows cost a quarter of their float bytes: with this model's 4096 x 256 table, over 17%.
    expect(int4Int8Rows, 'int4 with int8 embeddings').to.be.within(int4, 0.21);
  });

  it('LoRA on a quantized base: adapters train in float32, the packed base stays frozen', async () => {
    const model = await tinyQuantized({ bits: 4 });
    const before = await logits(model, [[1, 2, 3]]);
    applyLora(model, { r: 4, alpha: 8, targetModules: ['in_proj', 'x_proj', 'out_proj', 'embeddings'] });
    expect([...await logits(model, [[1, 2, 3]])], 'B starts at zero').to.deep.equal([...before]);
    const trainable = model.trainableWeights.map((w) => w.name);
    expect(trainable.length).to.be.above(0);
    expect(trainable.every((n) => n.includes('lora_'))).to.equal(true);
    const packed = model.weights.filter((w) => w.dtype === 'int32').map((w) => w.read().dataSync().slice());
    expect(packed.length).to.equal(2 * 4 + 1);
    const ids = tf.tensor2d([[1, 2, 3, 4, 5, 6]], undefined, 'int32');
    const optimizer = tf.train.adam(1e-2);
    const loss = () => model.forward(ids, { labels: ids, training: true }).loss!;
    const first = tf.tidy(() => loss().dataSync()[0]);
    for (let i = 0; i < 5; i++) optimizer.minimize(loss, true)?.dispose();
    expect(tf.tidy(() => loss().dataSync()[0])).to.be.below(first);
    model.weights.filter((w) => w.dtype === 'int32').forEach((w, i) => {
      expect([...w.read().dataSync()]).to.deep.equal([...packed[i]]);
    });
    // A compiled model is compiled again: fit trains what is left (the adapters here).
    model.compile({ optimizer: tf.train.sgd(0.1) });
    const history = await model.fit(ids, ids, { epochs: 1, verbose: 0 });
    expect(history.history.loss[0]).to.be.a('number');
    // Quantizing a model that already has adapters keeps them.
    const adapted = await MambaForCausalLM.fromPretrained(TINY);
    applyLora(adapted, { r: 2, alpha: 2, targetModules: ['out_proj'] });
    const adapter = adapted.backbone.blocks[0].mixer.outProj.adapter;
    await quantize(adapted, { bits: 8 });
    expect(adapted.backbone.blocks[0].mixer.outProj.adapter).to.equal(adapter);
    // A float model compiled before quantize is compiled again: fit trains the float weights left.
    const compiled = await MambaForCausalLM.fromPretrained(TINY);
    compiled.compile({ optimizer: tf.train.sgd(0.01) });
    await quantize(compiled, { bits: 4 });
    await compiled.fit(ids, ids, { epochs: 1, verbose: 0 });
    expect(compiled.trainableWeights.some((w) => w.name.includes('A_log'))).to.equal(true);
    compiled.dispose();
    optimizer.dispose();
    disposeAll(ids, model, adapted);
  });

  it('errors: bad options, a non-finite weight (model untouched), quantizing twice, a dtype the checkpoint was not saved in, bad quantization_config', async () => {
    const model = await MambaForCausalLM.fromPretrained(TINY);
    await expectReject(quantize(model, { bits: 2 as 4 }), /bits must be 8 or 4/);
    await expectReject(quantize(model, { bits: 4, groupSize: 100 }), /groupSize must be a positive multiple of 8/);
    const A = model.backbone.namedLayerVariables().get('backbone.layers.1.mixer.out_proj.weight')!;
    const good = A.read().clone();
    A.write(tf.fill(A.shape as number[], NaN));
    await expectReject(quantize(model, { bits: 8 }), /backbone.layers.1.mixer.out_proj: quantizeMatrix: non-finite weight NaN/);
    expect(quantizationOf(model), 'left as it was').to.equal(null);
    A.write(good);
    good.dispose();
    await quantize(model, { bits: 8 });
    await expectReject(quantize(model, { bits: 8 }), /already quantized/);
    // tfjs' save would write what tf.loadLayersModel cannot rebuild: refused, naming savePretrained
    await expectReject(model.save(`file://${join(dir, 'layers')}`), /save: the model is quantized to int8, which tf.loadLayersModel cannot rebuild; savePretrained/);
    await model.savePretrained(dir);
    await expectReject(MambaForCausalLM.fromPretrained(dir, { dtype: 'int4' }), /quantized to int8; it loads as int8 only/);
    await expectReject(MambaForCausalLM.fromPretrained(TINY, { dtype: 'int2' as 'int4' }), /dtype must be 'float32', 'float16', 'int8' or 'int4'/);
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, quantization_config: { ...config.quantization_config, quant_method: 'gptq' } }));
    await expectReject(MambaForCausalLM.fromPretrained(dir), /quant_method 'gptq' is not one this library reads/);
    const [left, ...modules] = config.quantization_config.modules as string[];
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, quantization_config: { ...config.quantization_config, modules } }));
    await expectReject(MambaForCausalLM.fromPretrained(dir), new RegExp(`modules it leaves out \\[${left.replace(/\./g, '\\.')}\\]`));
    model.dispose();
  });

  it('a model disposed while quantize reads its weights: quantize fails naming itself and the weight, not with tfjs\' bare message', async () => {
    const model = await MambaForCausalLM.fromPretrained(TINY);
    const pending = quantize(model, { bits: 8 });
    model.dispose();
    await expectReject(pending, /^Error: quantize: backbone\.embeddings\.weight was disposed while quantize read the weights/);
  });

  it('two quantize calls at once on one model (two requests): the later is refused, naming the conflict; the model is the other\'s', async () => {
    const tensors = tf.memory().numTensors;
    const alone = await tinyQuantized({ bits: 8 });
    const model = await MambaForCausalLM.fromPretrained(TINY);
    const [int8, int4] = await Promise.allSettled([quantize(model, { bits: 8 }), quantize(model, { bits: 4 })]);
    expect(int8.status).to.equal('fulfilled');
    expect(int4.status === 'rejected' && (int4.reason as Error).message).to.match(
      /^quantize: backbone\.embeddings\.weight was replaced or assigned while quantize read the weights \(another quantize, toFloat16/);
    expect(quantizationOf(model)).to.deep.equal(quantizationOf(alone));
    const ids = [[0, 11, 23, 95, 4, 60, 7]];
    expect(await logits(model, ids)).to.deep.equal(await logits(alone, ids));
    disposeAll(model, alone);
    expect(tf.memory().numTensors, 'tensors left').to.equal(tensors);
  });
});

function disposeAll(...items: (tf.LayersModel | tf.Tensor)[]): void {
  for (const item of items) item.dispose();
}

describe('namedWeights on a quantized model', () => {
  it('says the float weights were replaced by packed codes', async () => {
    const model = await MambaForCausalLM.fromPretrained(TINY, { dtype: 'int8' });
    expect(() => model.namedWeights()).to.throw(/quantized to int8; its float weights were replaced by packed codes/);
    model.dispose();
  });
});
