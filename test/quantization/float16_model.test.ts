/**
 * float16 models on webgpu (Dawn over lavapipe): logits against HF's float32 ones, F16 / BF16 / F32
 * checkpoints packed per tensor (F16 as stored), greedy generation of the trained model against
 * float32, resident bytes, save -> load, LoRA on a float16 base, errors, leaks.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { MambaConfig } from '../../src/config.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { applyLora } from '../../src/lora/apply.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { MambaModel } from '../../src/model/mamba_model.js';
import { float16Modules, toFloat16 } from '../../src/quantization/float16.js';
import { quantize } from '../../src/quantization/quantize.js';
import { AutoTokenizer } from '../../src/tokenizer/auto_tokenizer.js';
import { packFloat16, unpackHalves } from '../../src/weights/float16_packing.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { expectClose } from '../support/compare.js';
import { FIXTURES, ref, refIds, TINY } from '../support/reference.js';
import { expectReject } from '../support/rejection.js';

const QUOTES_MODEL = new URL('../../models/mamba-quotes', import.meta.url).pathname;

async function logits(model: MambaForCausalLM, ids: tf.Tensor2D): Promise<Float32Array> {
  const out = model.forward(ids).logits;
  const values = await out.data() as Float32Array;
  out.dispose();
  return values;
}

/** Every float16 matrix's words by weight name. */
async function words(model: MambaForCausalLM): Promise<Map<string, Int32Array>> {
  const out = new Map<string, Int32Array>();
  for (const m of float16Modules(model)) out.set(`${m.path}.weight`, await m.module.weight.stored()[0][1].read().data() as Int32Array);
  return out;
}

/** Bytes of every variable the model holds (int32 words and float32 alike are 4 bytes an element). */
function variableBytes(model: tf.LayersModel): number {
  return model.weights.reduce((n, w) => n + 4 * w.shape.reduce((a, b) => a! * b!, 1)!, 0);
}

describeBackends('float16 models', ['webgpu'], () => {
  let dir: string;
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mamba-tfjs-f16-')); });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

  it('tiny: logits within 2e-2 of HF float32, from F32, F16 and BF16 checkpoints; F16 packed as stored', async () => {
    const ids = refIds('input_ids');
    const want = ref('logits').values;
    const loaded: Record<string, MambaForCausalLM> = {};
    for (const folder of ['tiny', 'tiny-float16', 'tiny-bfloat16']) {
      const model = loaded[folder] = await MambaForCausalLM.fromPretrained(`${FIXTURES}${folder}`, { dtype: 'float16' });
      expect(float16Modules(model).map((m) => m.path)).to.have.length(1 + 4 * 2);
      const err = expectClose(`${folder} float16 logits`, await logits(model, ids), want, 2e-2);
      console.log(`      ${folder}: max abs logit error vs HF float32 ${err.toExponential(1)}`);
    }
    // The F16 file's halves are the words' halves bit for bit; F32 rounds to the same halves as the F16 file (torch's .half()).
    const file = parseSafetensors(new Uint8Array(await readFile(`${FIXTURES}tiny-float16/model.safetensors`))).tensors;
    for (const [name, w] of await words(loaded['tiny-float16'])) {
      const info = file.get(name)!;
      expect([...unpackHalves(w, info.shape as [number, number])], name).to.deep.equal([...new Uint16Array(info.bytes.slice().buffer)]);
    }
    expect(await words(loaded.tiny)).to.deep.equal(await words(loaded['tiny-float16']));
    // The rest stays float32: A_log from the F32 file is not rounded.
    const aLog = (m: MambaForCausalLM) => m.namedLayerVariables().get('backbone.layers.0.mixer.A_log')!;
    expect(aLog(loaded.tiny).dtype).to.equal('float32');
    const float = await MambaForCausalLM.fromPretrained(TINY);
    expect([...await aLog(loaded.tiny).read().data()]).to.deep.equal([...await aLog(float).read().data()]);
    // toFloat16 on the float32 model gives the words loading gave.
    expect(await toFloat16(float)).to.have.length(9);
    expect(await words(float)).to.deep.equal(await words(loaded.tiny));
    Object.values(loaded).forEach((m) => m.dispose());
    ids.dispose();
    float.dispose();
  });

  it('models/mamba-quotes: greedy ids equal float32\'s for 24 tokens; resident weight bytes <= 0.55x float32', async () => {
    const tokenizer = await AutoTokenizer.fromPretrained(QUOTES_MODEL);
    const float = await MambaForCausalLM.fromPretrained(QUOTES_MODEL);
    const before = tf.memory().numBytes;
    const half = await MambaForCausalLM.fromPretrained(QUOTES_MODEL, { dtype: 'float16' });
    const halfTensorBytes = tf.memory().numBytes - before;
    const ratio = variableBytes(half) / variableBytes(float);
    console.log(`      resident weight bytes: float16 / float32 = ${ratio.toFixed(3)} (${variableBytes(half)} / ${variableBytes(float)})`);
    expect(ratio).to.be.at.most(0.55);
    expect(halfTensorBytes, 'tf.memory() agrees').to.equal(variableBytes(half));
    const options = { maxNewTokens: 24, doSample: false, eosTokenId: null };
    for (const text of ['The only thing we have to fear', 'Life is what happens']) {
      const prompt = tf.tensor2d([tokenizer.encode(text)], undefined, 'int32');
      const [want] = await float.generate(prompt, options);
      const [got] = await half.generate(prompt, options);
      expect(got.length - prompt.shape[1]).to.equal(24);
      expect(got, `'${text}' -> '${tokenizer.decode(want)}'`).to.deep.equal(want);
      prompt.dispose();
    }
    float.dispose();
    half.dispose();
  });

  it('savePretrained writes F16 matrices, F32 for the rest and dtype float16; loading it back gives the same words', async () => {
    const model = await MambaForCausalLM.fromPretrained(`${FIXTURES}tiny-bfloat16`, { dtype: 'float16' });
    await model.savePretrained(dir);
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).to.include({ dtype: 'float16', torch_dtype: 'float16', model_type: 'mamba' });
    const file = parseSafetensors(new Uint8Array(await readFile(join(dir, 'model.safetensors'))));
    expect(file.metadata).to.deep.equal({ format: 'pt' });
    const dtypes = Object.fromEntries([...file.tensors].map(([name, info]) => [name, info.dtype]));
    expect(dtypes['backbone.embeddings.weight']).to.equal('F16');
    expect(file.tensors.get('backbone.layers.1.mixer.x_proj.weight')).to.include({ dtype: 'F16' })
      .and.to.have.property('shape').that.deep.equals([18, 64]);
    expect(dtypes['backbone.layers.1.mixer.dt_proj.bias']).to.equal('F32');
    expect(dtypes['backbone.layers.1.mixer.A_log']).to.equal('F32');
    expect(Object.keys(dtypes)).to.not.include('lm_head.weight');   // tied, as HF leaves it out

    const loaded = await MambaForCausalLM.fromPretrained(dir, { dtype: 'float16' });
    expect(await words(loaded)).to.deep.equal(await words(model));
    const ids = tf.tensor2d([[1, 2, 3, 90, 4]], undefined, 'int32');
    expect([...await logits(loaded, ids)]).to.deep.equal([...await logits(model, ids)]);
    await loaded.savePretrained(join(dir, 'again'));
    expect(Buffer.compare(await readFile(join(dir, 'model.safetensors')), await readFile(join(dir, 'again', 'model.safetensors')))).to.equal(0);
    // By default it loads as float32, the halves widened exactly.
    const widened = await MambaForCausalLM.fromPretrained(dir);
    const table = await widened.namedLayerVariables().get('backbone.embeddings.weight')!.read().data() as Float32Array;
    expect([...packFloat16(table, [96, 32])]).to.deep.equal([...(await words(model)).get('backbone.embeddings.weight')!]);
    const backbone = await MambaModel.fromPretrained(dir, { dtype: 'float16' });
    expect(float16Modules(backbone).map((m) => m.path)).to.include('backbone.embeddings');
    for (const m of [model, loaded, widened, backbone]) m.dispose();
    ids.dispose();
  });

  it('an untied head is cast and saved too', async () => {
    const model = new MambaForCausalLM({ config: new MambaConfig({ vocabSize: 50, hiddenSize: 17, numHiddenLayers: 1, stateSize: 4, tieWordEmbeddings: false }) });
    await model.savePretrained(dir);
    const half = await MambaForCausalLM.fromPretrained(dir, { dtype: 'float16' });
    expect(float16Modules(half).map((m) => m.path)).to.include('lm_head');
    const ids = tf.tensor2d([[1, 2, 3]], undefined, 'int32');
    expectClose('untied head logits', await logits(half, ids), await logits(model, ids), 1e-2);
    await half.savePretrained(join(dir, 'half'));
    const file = parseSafetensors(new Uint8Array(await readFile(join(dir, 'half', 'model.safetensors'))));
    expect(file.tensors.get('lm_head.weight')).to.include({ dtype: 'F16' });
    model.dispose();
    half.dispose();
    ids.dispose();
  });

  it('LoRA on a float16 base: adapters train in float32, the halves stay frozen', async () => {
    const model = await MambaForCausalLM.fromPretrained(TINY, { dtype: 'float16' });
    applyLora(model, { r: 2, alpha: 4, targetModules: ['in_proj', 'out_proj'] });
    expect(model.trainableWeights.every((w) => w.name.includes('lora_'))).to.equal(true);
    const frozen = await words(model);
    const ids = tf.tensor2d([[1, 2, 3, 4, 5, 6]], undefined, 'int32');
    const optimizer = tf.train.adam(1e-2);
    const loss = () => model.forward(ids, { labels: ids, training: true }).loss!;
    const lossValue = async () => {
      const l = loss();
      const [v] = await l.data();
      l.dispose();
      return v;
    };
    const first = await lossValue();
    for (let i = 0; i < 5; i++) optimizer.minimize(loss, true)?.dispose();
    expect(await lossValue()).to.be.below(first);
    expect(await words(model)).to.deep.equal(frozen);
    optimizer.dispose();
    model.dispose();
    ids.dispose();
  });

  it('cast, forward, decode and dispose leave no tensors behind', async () => {
    await expectNoLeaks(async () => {
      const model = await MambaForCausalLM.fromPretrained(TINY);
      await toFloat16(model);
      const ids = tf.tensor2d([[1, 2, 3]], undefined, 'int32');
      await logits(model, ids);
      await model.generate(ids, { maxNewTokens: 5 });
      ids.dispose();
      model.dispose();
    });
  });

  it('errors: casting twice, a quantized model, a weight past float16\'s range (model untouched), namedWeights, a quantized checkpoint', async () => {
    const model = await MambaForCausalLM.fromPretrained(TINY);
    const w = model.namedLayerVariables().get('backbone.layers.1.mixer.in_proj.weight')!;
    const good = w.read().clone();
    w.write(tf.tidy(() => tf.add(good, tf.oneHot(tf.tensor1d([5], 'int32'), good.size).reshape(good.shape).mul(1e5))));
    await expectReject(toFloat16(model), /toFloat16: backbone.layers.1.mixer.in_proj: weight .* at \[0, 5\] is past float16's range/);
    expect(float16Modules(model)).to.deep.equal([]);
    w.write(good);
    good.dispose();
    await toFloat16(model);
    await expectReject(toFloat16(model), /toFloat16: backbone.embeddings is already float16/);
    await expectReject(quantize(model, { bits: 8 }), /already packed/);
    expect(() => model.namedWeights()).to.throw(/float16 weights \(backbone.embeddings and 8 more\)/);
    model.dispose();
    const quantized = await MambaForCausalLM.fromPretrained(TINY, { dtype: 'int8' });
    await expectReject(toFloat16(quantized), /quantized to int8; cast the float32 model/);
    await quantized.savePretrained(dir);
    await expectReject(MambaForCausalLM.fromPretrained(dir, { dtype: 'float16' }), /quantized to int8; it loads as int8 only, not as float16/);
    quantized.dispose();
  });

  it('quantize and toFloat16 at once on one model: one is refused, naming the conflict; the model is the other\'s whole', async () => {
    const tensors = tf.memory().numTensors;
    const model = await MambaForCausalLM.fromPretrained(TINY);
    const settled = await Promise.allSettled([quantize(model, { bits: 8 }), toFloat16(model)]);
    const refused = settled.flatMap((s) => (s.status === 'rejected' ? [(s.reason as Error).message] : []));
    expect(refused).to.have.length(1);
    expect(refused[0]).to.match(/^(quantize|toFloat16): backbone\.embeddings\.weight was replaced or assigned while \1 read the weights/);
    const quantized = settled[0].status === 'fulfilled';
    expect(model.quantization != null, 'quantization settings').to.equal(quantized);
    expect(float16Modules(model).length, 'float16 modules').to.equal(quantized ? 0 : 9);
    model.dispose();
    expect(tf.memory().numTensors, 'tensors left').to.equal(tensors);
  });
});

describeBackends('float16 models off webgpu', ['cpu'], () => {
  it('are refused with an error naming the backend they need', async () => {
    await expectReject(MambaForCausalLM.fromPretrained(TINY, { dtype: 'float16' }),
      /fromPretrained: float16 weights need the webgpu backend .* the active backend is cpu/);
    const model = await MambaForCausalLM.fromPretrained(TINY);
    await expectReject(toFloat16(model), /toFloat16: float16 weights need the webgpu backend/);
    expect(float16Modules(model)).to.deep.equal([]);
    model.dispose();
  });
});
