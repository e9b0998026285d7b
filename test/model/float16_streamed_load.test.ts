/**
 * fromPretrained(dtype: 'float16') read tensor by tensor into a model built with halves from the start:
 * the words and logits of load-float32-then-toFloat16 bit for bit, no float32 matrix of a float16
 * module allocated and peak bytes below the float32 model's, F16 files packed as stored and BF16 ones
 * rounded as an independent float16 implementation rounds them, a table past the device's buffer
 * limits refused before loading with the float16 numbers, and transformers.js' / HF's dtype names.
 */
import { Float16Array } from '@petamoriken/float16';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { AutoModelForCausalLM } from '../../src/auto/auto_model.js';
import { MambaConfig, type MambaConfigInit } from '../../src/config.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsEntry } from '../../src/io/safetensors.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { MambaModel } from '../../src/model/mamba_model.js';
import { pipeline } from '../../src/pipeline.js';
import { float16Modules, toFloat16 } from '../../src/quantization/float16.js';
import { unpackHalves } from '../../src/weights/float16_packing.js';
import { writeSyntheticCheckpoint } from '../../bench/routines/synthetic_checkpoint.js';
import { saveTinyTextModel, type TextModelDir } from '../generation/tiny_text_model.js';
import { seededModel } from '../quantization/synthetic_model.js';
import { watchAllocations } from '../support/allocations.js';
import { logitsOf, variableBits } from '../support/model_bits.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { expectReject } from '../support/rejection.js';

/** As test/model/streamed_load.test.ts: dt_proj [256, 64], the smallest matrix, outweighs every float variable. */
const SHAPE: MambaConfigInit = {
  vocabSize: 2048, hiddenSize: 128, intermediateSize: 256, numHiddenLayers: 3, stateSize: 16, timeStepRank: 64,
};
const IDS = [[1, 17, 250, 3, 999, 42, 7, 1500], [5, 6, 7, 8, 9, 10, 11, 2047]];
/** Where the BF16 file plants values whose rounding to a half is not exact, and what they are. */
const PLANTED = 'backbone.layers.1.mixer.x_proj.weight';
const PLANTED_BF16 = [0x3380, 0x3340, 0x3360, 0xb3c0, 0x2f80, 0x477f, 0xc77f, 0x0001, 0x8000, 0x33a0];

const logits = (model: MambaForCausalLM) => logitsOf(model, IDS);

/** The half bits of every float16 matrix, by weight name. */
async function halves(model: MambaForCausalLM): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const m of float16Modules(model)) {
    const [, words] = m.module.weight.stored()[0];
    out.set(`${m.path}.weight`, [...unpackHalves(await words.read().data() as Int32Array, m.module.weight.shape)]);
  }
  return out;
}

/** The independent route: the checkpoint loaded as float32 (F16 / BF16 widen exactly), then cast. */
async function loadThenCast(dir: string): Promise<MambaForCausalLM> {
  const model = await MambaForCausalLM.fromPretrained(dir);
  await toFloat16(model);
  return model;
}

/** float32 -> bfloat16 bits, to the nearest, ties to even (how the test's BF16 file is made). */
function toBF16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  return Uint16Array.from(bits, (b) => (b + 0x7fff + ((b >>> 16) & 1)) >>> 16);
}

/** A bfloat16's value, widened by its bits. */
function bf16Value(bits: number): number {
  return new Float32Array(new Uint32Array([bits << 16]).buffer)[0];
}

/** The F32 checkpoint in `from` rewritten with every tensor as `dtype`, `edit` applied to the 16-bit data. */
async function writeHalfCheckpoint(
  from: string, to: string, dtype: 'F16' | 'BF16', edit: (name: string, data: Uint16Array) => void = () => {},
): Promise<Map<string, Uint16Array>> {
  await cp(from, to, { recursive: true });
  const file = parseSafetensors(new Uint8Array(await readFile(join(from, 'model.safetensors'))));
  const entries = new Map<string, SafetensorsEntry>();
  const stored = new Map<string, Uint16Array>();
  for (const [name, info] of file.tensors) {
    const values = info.toFloat32();
    const data = dtype === 'F16' ? new Uint16Array(new Float16Array(values).buffer) : toBF16(values);
    edit(name, data);
    stored.set(name, data);
    entries.set(name, { dtype, shape: info.shape, data });
  }
  await writeFile(join(to, 'model.safetensors'), serializeSafetensors(entries, { format: 'pt' }));
  const config = JSON.parse(await readFile(join(from, 'config.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(to, 'config.json'), JSON.stringify({ ...config, torch_dtype: dtype === 'F16' ? 'float16' : 'bfloat16' }));
  return stored;
}

/** Bytes of every variable a model holds (int32 words and float32 alike are 4 bytes an element). */
function variableBytes(model: tf.LayersModel): number {
  return model.weights.reduce((n, w) => n + 4 * tf.util.sizeFromShape(w.shape as number[]), 0);
}

describeBackends('fromPretrained(dtype: float16) streamed into a model built with halves', ['webgpu'], () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mamba-tfjs-f16-stream-'));
    for (const [name, init, seed] of [['tied', SHAPE, 3], ['untied', { ...SHAPE, tieWordEmbeddings: false }, 4]] as const) {
      const model = seededModel(init, seed);
      await model.savePretrained(join(root, name));
      model.dispose();
    }
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  for (const variant of ['tied', 'untied'] as const) {
    it(`${variant}: load-then-toFloat16's variables and logits bit for bit; no float32 matrix of a float16 module allocated; peak below the float32 model`, async () => {
      const dir = join(root, variant);
      const before = tf.memory().numBytes;
      let sampledPeak = 0;
      const onProgress = () => { sampledPeak = Math.max(sampledPeak, tf.memory().numBytes - before); };
      const streamed = await watchAllocations(() => MambaForCausalLM.fromPretrained(dir, { dtype: 'float16', onProgress }));
      const reference = await watchAllocations(() => loadThenCast(dir));
      const float = await MambaForCausalLM.fromPretrained(dir);
      const [model, ref] = [streamed.result, reference.result];
      try {
        expect(float16Modules(model).map((m) => m.path)).to.deep.equal(float16Modules(ref).map((m) => m.path));
        if (variant === 'untied') expect(float16Modules(model).map((m) => m.path)).to.include('lm_head');
        expect(await variableBits(model)).to.deep.equal(await variableBits(ref));
        expect([...await logits(model)]).to.deep.equal([...await logits(ref)]);

        // What no float32 buffer may be: a float16 module's matrix [rows, columns].
        const matrices = float16Modules(ref).map((m) => m.module.weight.shape);
        const isMatrix = (b: { dtype: string; shape: number[] }) =>
          b.dtype === 'float32' && matrices.some((s) => tf.util.arraysEqual(s, b.shape));
        expect(streamed.record.buffers.filter(isMatrix), 'float32 matrices allocated while streaming').to.deep.equal([]);
        expect(reference.record.buffers.filter(isMatrix).length, 'the watch sees them in load-then-cast').to.be.at.least(matrices.length);

        // The backend never held the float32 model's bytes: at most the float16 model and one variable being rewritten.
        const floatBytes = variableBytes(float);
        const largestVariable = Math.max(...model.weights.map((w) => 4 * tf.util.sizeFromShape(w.shape as number[])));
        console.log(`      peak backend bytes while loading: float16 streamed ${streamed.record.peakBytes}, `
          + `load-then-cast ${reference.record.peakBytes}, float32 model ${floatBytes}; sampled by progress ${sampledPeak}`);
        expect(streamed.record.peakBytes).to.be.below(floatBytes);
        expect(streamed.record.peakBytes - streamed.record.endBytes, 'peak over the loaded model').to.be.at.most(largestVariable);
        expect(streamed.record.endBytes).to.equal(variableBytes(model));
        expect(reference.record.peakBytes, 'load-then-cast held the float32 model').to.be.at.least(floatBytes);
        expect(sampledPeak, 'tf.memory() sampled at each read').to.be.above(0).and.below(floatBytes);
      } finally {
        for (const m of [model, ref, float]) m.dispose();
      }
    });
  }

  it('an F16 checkpoint: the words are the file\'s halves as stored, the rest its values widened; load-then-cast\'s logits', async () => {
    const dir = join(root, 'f16');
    const stored = await writeHalfCheckpoint(join(root, 'tied'), dir, 'F16');
    const model = await MambaForCausalLM.fromPretrained(dir, { dtype: 'float16' });
    const ref = await loadThenCast(dir);
    try {
      const words = await halves(model);
      expect(words.size).to.equal(1 + 4 * 3);
      for (const [name, bits] of words) expect(bits, name).to.deep.equal([...stored.get(name)!]);
      const aLog = model.namedLayerVariables().get('backbone.layers.2.mixer.A_log')!;
      expect(aLog.dtype).to.equal('float32');
      expect([...await aLog.read().data()]).to.deep.equal([...new Float16Array(stored.get('backbone.layers.2.mixer.A_log')!.buffer)]);
      expect(await variableBits(model)).to.deep.equal(await variableBits(ref));
      expect([...await logits(model)]).to.deep.equal([...await logits(ref)]);
    } finally {
      model.dispose();
      ref.dispose();
    }
  });

  it('a BF16 checkpoint: each half rounded from the bfloat16 as @petamoriken/float16 rounds it (subnormals, ties, the edge of the range)', async () => {
    const dir = join(root, 'bf16');
    const stored = await writeHalfCheckpoint(join(root, 'tied'), dir, 'BF16', (name, data) => {
      if (name === PLANTED) data.set(PLANTED_BF16, 5);
    });
    const model = await MambaForCausalLM.fromPretrained(dir, { dtype: 'float16' });
    const ref = await loadThenCast(dir);
    try {
      const words = await halves(model);
      let inexact = 0;
      for (const [name, bits] of words) {
        const values = Float64Array.from(stored.get(name)!, bf16Value);
        const want = new Uint16Array(new Float16Array(values).buffer);
        expect(bits, name).to.deep.equal([...want]);
        inexact += values.filter((v) => new Float16Array([v])[0] !== v).length;
      }
      // The planted values round (to subnormals, to even, to zero) rather than convert exactly, and 65280 stays finite.
      expect(inexact, 'values the rounding changed').to.be.at.least(6);
      const planted = words.get(PLANTED)!.slice(5, 5 + PLANTED_BF16.length);
      expect(planted.map((h) => h.toString(16))).to.deep.equal(
        [...new Uint16Array(new Float16Array(PLANTED_BF16.map(bf16Value)).buffer)].map((h) => h.toString(16)));
      expect(planted[5].toString(16)).to.equal('7bf8');   // 65280
      expect(await variableBits(model)).to.deep.equal(await variableBits(ref));
      expect([...await logits(model)]).to.deep.equal([...await logits(ref)]);
    } finally {
      model.dispose();
      ref.dispose();
    }
  });

  it('a BF16 weight past float16\'s range is refused naming it, its place and its file, and leaves no tensors; outside a matrix it stays float32', async () => {
    const dir = join(root, 'bf16-overflow');
    await writeHalfCheckpoint(join(root, 'tied'), dir, 'BF16', (name, data) => {
      if (name === PLANTED) data[3 * 256 + 7] = 0x4780;   // 65536: .half() makes it an infinity
      if (name === 'backbone.layers.0.mixer.D') data[0] = 0x4780;
    });
    const before = tf.memory().numTensors;
    await expectReject(MambaForCausalLM.fromPretrained(dir, { dtype: 'float16' }),
      new RegExp(`${PLANTED.replace(/\./g, '\\.')} in model\\.safetensors at .*bf16-overflow: weight 65536 at \\[3, 7\\] is past float16's range`));
    expect(tf.memory().numTensors).to.equal(before);
    const widened = await MambaForCausalLM.fromPretrained(dir);
    expect((await widened.namedLayerVariables().get('backbone.layers.0.mixer.D')!.read().data())[0]).to.equal(65536);
    widened.dispose();
  });

  it('a model built with dtype float16 has toFloat16\'s names, shapes and dtypes, frozen zeros until written; MambaModel too', async () => {
    for (const tieWordEmbeddings of [true, false]) {
      const config = new MambaConfig({ ...SHAPE, tieWordEmbeddings });
      const built = new MambaForCausalLM({ config, dtype: 'float16' });
      const cast = new MambaForCausalLM({ config });
      await toFloat16(cast);
      try {
        const layout = (m: MambaForCausalLM) => [...m.namedLayerVariables()].map(([n, v]) => [n, v.dtype, v.shape, v.trainable]);
        expect(layout(built)).to.deep.equal(layout(cast));
        expect(float16Modules(built).map((m) => m.path)).to.deep.equal(float16Modules(cast).map((m) => m.path));
        const words = await built.backbone.blocks[0].mixer.inProj.weight.stored()[0][1].read().data();
        expect(words.every((w) => w === 0)).to.equal(true);
        expect(built.weights.filter((w) => w.dtype === 'float32').map((w) => w.shape)).to.not.deep.include([2 * 256, 128]);
      } finally {
        built.dispose();
        cast.dispose();
      }
    }
    const backbone = await MambaModel.fromPretrained(join(root, 'untied'), { dtype: 'float16' });
    expect(backbone.namedLayerVariables().has('lm_head.weight')).to.equal(false);
    expect(backbone.namedLayerVariables().get('backbone.embeddings.weight')!.dtype).to.equal('int32');
    backbone.dispose();
    expect(() => new MambaForCausalLM({ config: new MambaConfig(SHAPE), dtype: 'float16', quantization: { bits: 4 } }))
      .to.throw(/MambaForCausalLM: dtype 'float16' and quantization exclude each other/);
    expect(() => new MambaForCausalLM({ config: new MambaConfig(SHAPE), dtype: 'bfloat16' as 'float16' }))
      .to.throw(/MambaForCausalLM: dtype must be 'float32' or 'float16', got "bfloat16"/);
  });

  it('load, forward and dispose leave no tensors behind', async () => {
    await expectNoLeaks(async () => {
      const model = await MambaForCausalLM.fromPretrained(join(root, 'untied'), { dtype: 'float16' });
      await logits(model);
      model.dispose();
    });
  });

  it('a table that does not fit the device\'s buffer limits as float16 is refused before loading, with the float16 bytes', async function () {
    this.timeout(60_000);
    const limits = (tf.backend() as unknown as { device: GPUDevice }).device.limits;
    const cap = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
    const hiddenSize = 1024;
    const vocabSize = Math.floor(cap / (2 * hiddenSize)) + 1;
    const dir = await mkdtemp(join(tmpdir(), 'mamba-tfjs-f16-refuse-'));
    try {
      await writeSyntheticCheckpoint(dir, new MambaConfig({ hiddenSize, numHiddenLayers: 1, vocabSize }), { sparse: true });
      const before = tf.memory().numTensors;
      await expectReject(MambaForCausalLM.fromPretrained(dir, { dtype: 'float16' }), new RegExp(
        `the model at .* as float16 does not fit this WebGPU device: backbone\\.embeddings\\.weight \\(float16\\) takes [\\d.]+ [MG]iB `
        + `\\(${2 * vocabSize * hiddenSize} bytes\\) in one buffer, past its \\w+ of [\\d.]+ [MG]iB \\(${cap} bytes; `
        + `maxBufferSize ${limits.maxBufferSize}, maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}\\)`));
      expect(tf.memory().numTensors, 'nothing allocated').to.equal(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describeBackends('float16 by transformers.js / HF dtype names', ['webgpu'], () => {
  let saved: TextModelDir;
  before(async () => { saved = await saveTinyTextModel(); });
  after(() => saved?.remove());

  it('pipeline and AutoModelForCausalLM: fp16, float16, bf16 and bfloat16 load float16 weights, as fromPretrained(dtype: float16)', async () => {
    const direct = await MambaForCausalLM.fromPretrained(saved.dir, { dtype: 'float16' });
    const want = await halves(direct);
    const ids = tf.tensor2d([[5, 6, 7, 8]], undefined, 'int32');
    const directOut = direct.forward(ids).logits;
    const wantLogits = [...await directOut.data()];
    directOut.dispose();
    try {
      expect(want.size).to.equal(1 + 4 * 2);
      for (const dtype of ['fp16', 'float16', 'bf16', 'bfloat16']) {
        // No device: the running backend (webgpu here), as transformers.js leaves it.
        const generator = await pipeline('text-generation', saved.dir, { dtype });
        const model = await AutoModelForCausalLM.fromPretrained(saved.dir, { torch_dtype: dtype });
        try {
          for (const m of [generator.model, model]) {
            expect(await halves(m), dtype).to.deep.equal(want);
            const out = m.forward(ids).logits;
            expect([...await out.data()], dtype).to.deep.equal(wantLogits);
            out.dispose();
          }
          const [{ generated_text: text }] = await generator('Hello', { max_new_tokens: 3, do_sample: false, eos_token_id: null });
          expect(text.startsWith('Hello')).to.equal(true);
        } finally {
          generator.dispose();
          model.dispose();
        }
      }
    } finally {
      direct.dispose();
      ids.dispose();
    }
  });
});
