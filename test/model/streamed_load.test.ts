/**
 * fromPretrained(dtype: 'int8' | 'int4') read tensor by tensor into a model built packed: the same
 * codes, settings, logits and saved file as load-then-quantize, no float32 matrix of a quantized
 * module ever allocated, shards and HTTP ranges, and models that cannot fit refused before loading.
 */
import { cp, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { MambaConfig, type MambaConfigInit } from '../../src/config.js';
import type { ReadProgress } from '../../src/io/checkpoint_source.js';
import { parseSafetensors, safetensorsLayout, serializeSafetensors, type SafetensorsEntry } from '../../src/io/safetensors.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { TINY } from '../support/reference.js';
import { MambaModel } from '../../src/model/mamba_model.js';
import { floatStateDict } from '../../src/quantization/float_state_dict.js';
import { quantizableModules } from '../../src/quantization/modules.js';
import { toFloat16 } from '../../src/quantization/float16.js';
import { quantize, resolveQuantizeOptions, roleLayout, type QuantizationSettings } from '../../src/quantization/quantize.js';
import { checkFitsBackend, plannedWeights, WASM_MAX_BYTES } from '../../src/weights/memory_budget.js';
import { stateDictShapes, writeSyntheticCheckpoint } from '../../bench/routines/synthetic_checkpoint.js';
import { groupsPerRow, wordsPerRow } from '../../custom-kernels/packed_format.js';
import { QUANT_METHOD } from '../../src/quantization/checkpoint.js';
import { watchAllocations } from '../support/allocations.js';
import { logitsOf, variableBits } from '../support/model_bits.js';
import { describeBackends } from '../support/backends.js';
import { serveDirectory } from '../support/http_server.js';
import { seededModel } from '../quantization/synthetic_model.js';

/**
 * A few MB; dt_proj [256, 64] (the smallest quantized matrix) is larger than every float variable
 * (A_log [256, 16] the largest), so a float tensor of a quantized matrix's size cannot hide among them.
 */
const SHAPE: MambaConfigInit = {
  vocabSize: 2048, hiddenSize: 128, intermediateSize: 256, numHiddenLayers: 3, stateSize: 16, timeStepRank: 64,
};
const IDS = [[1, 17, 250, 3, 999, 42, 7, 1500], [5, 6, 7, 8, 9, 10, 11, 2047]];

const logits = (model: MambaForCausalLM) => logitsOf(model, IDS);

/** The role of an HF matrix quantize() packs (the table and the mixer's projections), else null. */
function packedRole(name: string): 'linear' | 'embedding' | null {
  if (name === 'backbone.embeddings.weight') return 'embedding';
  return /\.mixer\.(in|x|dt|out)_proj\.weight$/.test(name) ? 'linear' : null;
}

/** The tensors saveQuantizedCheckpoint writes for a model of `config` quantized with `settings`: codes, scales, zeros. */
function quantizedTensors(config: MambaConfig, settings: QuantizationSettings): Map<string, Pick<SafetensorsEntry, 'dtype' | 'shape'>> {
  const tensors = new Map<string, Pick<SafetensorsEntry, 'dtype' | 'shape'>>();
  for (const [name, shape] of stateDictShapes(config)) {
    const role = packedRole(name);
    if (role == null) {
      tensors.set(name, { dtype: 'F32', shape });
      continue;
    }
    const [rows, columns] = shape;
    const layout = roleLayout(role, columns, settings);
    tensors.set(name, { dtype: 'I32', shape: [rows, wordsPerRow(columns, layout.bits)] });
    tensors.set(`${name}_scale`, { dtype: 'F32', shape: [rows, groupsPerRow(columns, layout.groupSize)] });
    if (!layout.symmetric) tensors.set(`${name}_zero`, { dtype: 'F32', shape: [rows, groupsPerRow(columns, layout.groupSize)] });
  }
  return tensors;
}

/** A quantized checkpoint of `config` whose weights file is only a header (sparse zeros after it). */
async function writeSparseQuantizedCheckpoint(dir: string, config: MambaConfig, settings: QuantizationSettings): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tensors = quantizedTensors(config, settings);
  const modules = [...tensors.keys()].filter((n) => packedRole(n) != null).map((n) => n.slice(0, -'.weight'.length));
  const quantization = {
    quant_method: QUANT_METHOD, bits: settings.bits, group_size: settings.groupSize, symmetric: settings.symmetric,
    embedding_bits: settings.embeddingBits, modules,
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config.toJSON(), quantization_config: quantization }));
  const { header, dataBytes } = safetensorsLayout(tensors, { format: 'pt' });
  const file = await open(join(dir, 'model.safetensors'), 'w');
  try {
    await file.write(header, 0, header.byteLength, 0);
    await file.truncate(header.byteLength + dataBytes);
  } finally {
    await file.close();
  }
}

const elements = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

async function loadThenQuantize(dir: string, bits: 8 | 4): Promise<MambaForCausalLM> {
  const model = await MambaForCausalLM.fromPretrained(dir);
  await quantize(model, { bits });
  return model;
}

let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mamba-tfjs-stream-'));
  for (const [name, init] of [['tied', SHAPE], ['untied', { ...SHAPE, tieWordEmbeddings: false }]] as const) {
    const model = seededModel(init, name === 'tied' ? 3 : 4);
    await model.savePretrained(join(root, name));
    model.dispose();
  }
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

describeBackends('fromPretrained(dtype) streamed into a packed model', ['cpu', 'wasm'], () => {
  for (const [variant, dtype, bits] of [['tied', 'int8', 8], ['tied', 'int4', 4], ['untied', 'int4', 4]] as const) {
    it(`${variant}, ${dtype}: load-then-quantize's codes bit for bit, its settings and logits, and no float32 matrix of a quantized module allocated`, async () => {
      const dir = join(root, variant);
      const streamed = await watchAllocations(() => MambaForCausalLM.fromPretrained(dir, { dtype }));
      const reference = await watchAllocations(() => loadThenQuantize(dir, bits));
      const [model, ref] = [streamed.result, reference.result];
      try {
        expect(model.quantization).to.deep.equal(ref.quantization);
        expect(await variableBits(model)).to.deep.equal(await variableBits(ref));
        expect([...await logits(model)]).to.deep.equal([...await logits(ref)]);

        // What no float32 buffer may be: a quantized module's matrix [rows, columns].
        const matrices = quantizableModules(ref).map((m) => m.module.weight.shape);
        if (variant === 'untied') expect(ref.quantization!.modules).to.include('lm_head');
        const isMatrix = (b: { dtype: string; shape: number[] }) =>
          b.dtype === 'float32' && matrices.some((s) => tf.util.arraysEqual(s, b.shape));
        expect(streamed.record.buffers.filter(isMatrix), 'float32 matrices allocated while streaming').to.deep.equal([]);
        expect(reference.record.buffers.filter(isMatrix).length, 'the watch sees them in load-then-quantize')
          .to.be.at.least(matrices.length);
        // Beyond the finished model, the peak held one variable being written (its old and new values), no more.
        const largestVariable = Math.max(...model.weights.map((w) => w.read().size * 4));
        const over = streamed.record.peakBytes - streamed.record.endBytes;
        expect(over, 'peak over the loaded model').to.be.at.most(largestVariable);
        // Load-then-quantize held every float matrix at once.
        const matrixBytes = matrices.reduce((sum, [r, c]) => sum + 4 * r * c, 0);
        expect(reference.record.peakBytes - reference.record.endBytes).to.be.at.least(matrixBytes - reference.record.endBytes);
        expect(matrixBytes - reference.record.endBytes).to.be.above(largestVariable);
      } finally {
        model.dispose();
        ref.dispose();
      }
    });
  }

  it('a model built quantized has quantize()\'s names, shapes and dtypes, zeros until written', async () => {
    const config = new MambaConfig({ ...SHAPE, tieWordEmbeddings: false });
    const built = new MambaForCausalLM({ config, quantization: { bits: 4, symmetric: true, embeddingBits: 4 } });
    const quantized = new MambaForCausalLM({ config });
    await quantize(quantized, { bits: 4, symmetric: true, embeddingBits: 4 });
    try {
      expect(built.quantization).to.deep.equal(quantized.quantization);
      const layout = (m: MambaForCausalLM) => [...m.namedLayerVariables()].map(([n, v]) => [n, v.dtype, v.shape, v.trainable]);
      expect(layout(built)).to.deep.equal(layout(quantized));
      const packed = built.backbone.blocks[0].mixer.inProj.weight;
      expect(packed.dtype).to.equal('int4');
      expect(built.weights.filter((w) => w.dtype === 'float32').map((w) => w.shape))
        .to.not.deep.include([2 * 256, 128], 'no float in_proj');
    } finally {
      built.dispose();
      quantized.dispose();
    }
  });
});

describeBackends('streamed loading: files, sources, saving', ['cpu'], () => {
  it('sharded checkpoints: each shard read by ranges, the same model as from one file, progress per shard', async () => {
    const dir = join(root, 'sharded');
    await cp(join(root, 'tied'), dir, { recursive: true });
    const whole = parseSafetensors(new Uint8Array(await readFile(join(dir, 'model.safetensors'))));
    await rm(join(dir, 'model.safetensors'));
    const shards: Map<string, SafetensorsEntry>[] = [new Map(), new Map(), new Map()];
    const weightMap: Record<string, string> = {};
    [...whole.tensors.values()].forEach((info, i) => {
      shards[i % 3].set(info.name, { dtype: info.dtype, shape: info.shape, data: info.bytes.slice() });
      weightMap[info.name] = `model-0000${(i % 3) + 1}-of-00003.safetensors`;
    });
    for (const [i, shard] of shards.entries()) {
      await writeFile(join(dir, `model-0000${i + 1}-of-00003.safetensors`), serializeSafetensors(shard, { format: 'pt' }));
    }
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const progress: ReadProgress[] = [];
    const sharded = await MambaForCausalLM.fromPretrained(dir, { dtype: 'int4', onProgress: (p) => progress.push({ ...p }) });
    const single = await MambaForCausalLM.fromPretrained(join(root, 'tied'), { dtype: 'int4' });
    try {
      expect(await variableBits(sharded)).to.deep.equal(await variableBits(single));
      for (let i = 1; i <= 3; i++) {
        const file = `model-0000${i}-of-00003.safetensors`;
        const events = progress.filter((p) => p.file === file);
        expect(events.length, file).to.be.at.least(3);
        expect(events.at(-1)!.loaded, file).to.equal(events.at(-1)!.total);
      }
    } finally {
      sharded.dispose();
      single.dispose();
    }
  });

  it('over HTTP: Range requests where the server honours them, whole files where it does not, the same model', async () => {
    const local = await MambaForCausalLM.fromPretrained(join(root, 'tied'), { dtype: 'int8' });
    const expected = await variableBits(local);
    local.dispose();
    for (const ranges of [true, false]) {
      const server = await serveDirectory(root, { ranges });
      try {
        const model = await MambaForCausalLM.fromPretrained(`${server.url}tied/`, { dtype: 'int8' });
        expect(await variableBits(model), `ranges: ${ranges}`).to.deep.equal(expected);
        model.dispose();
        const weights = server.requests.filter((r) => r.startsWith('GET tied/model.safetensors'));
        if (ranges) {
          // A one-byte probe, the header's length, the header, then one request per tensor.
          const tensors = parseSafetensors(new Uint8Array(await readFile(join(root, 'tied', 'model.safetensors')))).tensors.size;
          expect(weights.every((r) => / bytes=\d+-\d+$/.test(r)), weights.join('\n')).to.equal(true);
          expect(weights.length).to.equal(3 + tensors);
        } else {
          expect(weights).to.include('GET tied/model.safetensors');
        }
      } finally {
        await server.close();
      }
    }
  });

  it('a streamed int4 model saves the same file as load-then-quantize, and its backbone loads packed without the head', async () => {
    const dir = join(root, 'untied');
    const model = await MambaForCausalLM.fromPretrained(dir, { dtype: 'int4' });
    const ref = await loadThenQuantize(dir, 4);
    const out = await mkdtemp(join(tmpdir(), 'mamba-tfjs-stream-save-'));
    try {
      await model.savePretrained(join(out, 'a'));
      await ref.savePretrained(join(out, 'b'));
      expect(Buffer.compare(await readFile(join(out, 'a', 'model.safetensors')), await readFile(join(out, 'b', 'model.safetensors')))).to.equal(0);
      const backbone = await MambaModel.fromPretrained(dir, { dtype: 'int4' });
      expect(backbone.quantization!.modules).to.not.include('lm_head');
      expect(backbone.quantization!.modules).to.include('backbone.embeddings');
      backbone.dispose();
    } finally {
      model.dispose();
      ref.dispose();
      await rm(out, { recursive: true, force: true });
    }
  });
});

describeBackends('models that cannot fit are refused before loading', ['wasm'], () => {
  it('wasm: a 2.8b-shape float32 checkpoint (10.4 GiB) and a 6.6b-shape one as int8, with the numbers', async function () {
    this.timeout(60_000);
    const dir = await mkdtemp(join(tmpdir(), 'mamba-tfjs-refuse-'));
    try {
      const big = new MambaConfig({ hiddenSize: 2560, numHiddenLayers: 64, stateSize: 16, vocabSize: 50280 });
      const bytes = await writeSyntheticCheckpoint(join(dir, '2.8b'), big, { sparse: true });
      const before = tf.memory().numTensors;
      let error: Error | null = null;
      await MambaForCausalLM.fromPretrained(join(dir, '2.8b')).catch((e: Error) => { error = e; });
      expect(error, 'refused').to.be.instanceOf(Error);
      expect(error!.message).to.match(/does not fit wasm's memory: its weights take 10\.\d\d GiB \(\d+ bytes\)/);
      expect(error!.message).to.include(`(${WASM_MAX_BYTES} bytes) a wasm heap can grow to`);
      expect(error!.message).to.include('backbone.embeddings.weight');
      expect(tf.memory().numTensors, 'nothing allocated').to.equal(before);
      expect(bytes).to.be.above(10 * 1024 ** 3);

      const huge = new MambaConfig({ hiddenSize: 4096, numHiddenLayers: 64, stateSize: 16, vocabSize: 50280 });
      await writeSyntheticCheckpoint(join(dir, 'huge'), huge, { sparse: true });
      error = null;
      await MambaForCausalLM.fromPretrained(join(dir, 'huge'), { dtype: 'int8' }).catch((e: Error) => { error = e; });
      expect(error!.message).to.match(/as int8 does not fit wasm's memory: its weights take 6\.\d\d GiB/);
      expect(tf.memory().numTensors).to.equal(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('wasm: a float32 checkpoint past the heap is told to load quantized, which fits; a quantized one past it is not', async function () {
    this.timeout(60_000);
    const dir = await mkdtemp(join(tmpdir(), 'mamba-tfjs-advice-'));
    try {
      // The writer's tensors are what a quantized save holds (checked on a small model), so the big one below is real.
      const small = seededModel(SHAPE, 5);
      await quantize(small, { bits: 4 });
      await small.savePretrained(join(dir, 'small'));
      small.dispose();
      const saved = parseSafetensors(await readFile(join(dir, 'small', 'model.safetensors'))).tensors;
      const written = quantizedTensors(new MambaConfig(SHAPE), resolveQuantizeOptions({ bits: 4 }));
      expect(new Map([...saved].map(([n, e]) => [n, [e.dtype, e.shape]]))).to.deep.equal(new Map([...written].map(([n, e]) => [n, [e.dtype, e.shape]])));

      // 2.8b shape: 10.4 GiB as float32; the advice names int8 and int4, and both pass the same budget.
      const shape28 = new MambaConfig({ hiddenSize: 2560, numHiddenLayers: 64, stateSize: 16, vocabSize: 50280 });
      await writeSyntheticCheckpoint(join(dir, '2.8b'), shape28, { sparse: true });
      const floatBytes = 4 * [...stateDictShapes(shape28).values()].reduce((sum, s) => sum + elements(s), 0);
      let error: Error | null = null;
      await MambaForCausalLM.fromPretrained(join(dir, '2.8b')).catch((e: Error) => { error = e; });
      expect(error, 'refused').to.be.instanceOf(Error);
      expect(error!.message).to.include(`does not fit wasm's memory: its weights take ${(floatBytes / 1024 ** 3).toFixed(2)} GiB (${floatBytes} bytes)`);
      expect(error!.message).to.include(`writing the largest (backbone.embeddings.weight) 491.0 MiB more`);
      expect(error!.message).to.include(`past the 4.00 GiB (${WASM_MAX_BYTES} bytes) a wasm heap can grow to`);
      expect(error!.message).to.match(/\. Load it quantized \(dtype 'int8' or 'int4'\) or on webgpu$/);
      for (const bits of [8, 4] as const) {
        const settings = resolveQuantizeOptions({ bits });
        const planned = plannedWeights(stateDictShapes(shape28), (name, s) => {
          const role = packedRole(name);
          return role == null ? null : roleLayout(role, s[1], settings);
        });
        expect(() => checkFitsBackend(planned, `the 2.8b shape as int${bits}`, 'wasm'), `int${bits}`).to.not.throw();
      }

      // Quantized already and still past the heap (10b-shape int4, 5.80 GiB): nothing to quantize, so other advice.
      const shape10 = new MambaConfig({ hiddenSize: 5120, numHiddenLayers: 64, stateSize: 16, vocabSize: 50280 });
      await writeSparseQuantizedCheckpoint(join(dir, 'int4'), shape10, resolveQuantizeOptions({ bits: 4 }));
      const int4Bytes = 4 * [...quantizedTensors(shape10, resolveQuantizeOptions({ bits: 4 })).values()].reduce((sum, t) => sum + elements(t.shape), 0);
      error = null;
      await MambaForCausalLM.fromPretrained(join(dir, 'int4')).catch((e: Error) => { error = e; });
      expect(error, 'refused').to.be.instanceOf(Error);
      expect(error!.message).to.match(/^the int4 model at .* does not fit wasm's memory: its weights take [\d.]+ GiB \(\d+ bytes\)/);
      expect(error!.message).to.include(`(${int4Bytes} bytes)`);
      expect(error!.message).to.match(/\. It is quantized already: load it on webgpu, or a smaller model$/);
      expect(error!.message).to.not.include('Load it quantized');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('wasm: a checkpoint past the heap even quantized as asked is told what is left: int4 after int8, else webgpu', async function () {
    this.timeout(60_000);
    const dir = await mkdtemp(join(tmpdir(), 'mamba-tfjs-advice-'));
    try {
      // 10b shape: 5.8 GiB as int4, more as int8
      const shape10 = new MambaConfig({ hiddenSize: 5120, numHiddenLayers: 64, stateSize: 16, vocabSize: 50280 });
      await writeSyntheticCheckpoint(dir, shape10, { sparse: true });
      const refusal = async (dtype: 'int8' | 'int4') => {
        let error: Error | null = null;
        await MambaForCausalLM.fromPretrained(dir, { dtype }).catch((e: Error) => { error = e; });
        expect(error, `refused as ${dtype}`).to.be.instanceOf(Error);
        expect(error!.message).to.match(new RegExp(`^the model at .* as ${dtype} does not fit wasm's memory`));
        expect(error!.message, 'not told to do what it asked').to.not.include('Load it quantized');
        return error!.message;
      };
      expect(await refusal('int8')).to.match(/\. Load it as int4 \(dtype 'int4'\), on webgpu, or a smaller model$/);
      expect(await refusal('int4')).to.match(/\. It is int4 already: load it on webgpu, or a smaller model$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('wasm: tensors held on another backend do not count against its heap', async () => {
    await tf.setBackend('cpu');
    const held = tf.zeros([2 ** 30]);   // 4 GiB on cpu (zero pages, never touched)
    await tf.setBackend('wasm');
    try {
      const model = await MambaForCausalLM.fromPretrained(TINY);
      model.dispose();
    } finally {
      held.dispose();
    }
  });
});

describeBackends('models that cannot fit are refused before loading', ['webgpu'], () => {
  it('webgpu: a float32 table larger than the device\'s buffer limits, naming them', async function () {
    this.timeout(60_000);
    const limits = (tf.backend() as unknown as { device: GPUDevice }).device.limits;
    const cap = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
    const hiddenSize = 1024;
    const vocabSize = Math.floor(cap / (4 * hiddenSize)) + 1;
    const dir = await mkdtemp(join(tmpdir(), 'mamba-tfjs-refuse-'));
    try {
      await writeSyntheticCheckpoint(dir, new MambaConfig({ hiddenSize, numHiddenLayers: 1, vocabSize }), { sparse: true });
      const before = tf.memory().numTensors;
      let error: Error | null = null;
      await MambaForCausalLM.fromPretrained(dir).catch((e: Error) => { error = e; });
      expect(error, 'refused').to.be.instanceOf(Error);
      expect(error!.message).to.include(`backbone.embeddings.weight takes`);
      expect(error!.message).to.include(`(${4 * vocabSize * hiddenSize} bytes) in one buffer`);
      expect(error!.message).to.include(`maxBufferSize ${limits.maxBufferSize}, maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}`);
      expect(tf.memory().numTensors).to.equal(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describeBackends('streamed loading leaves no weight in JS', ['webgpu'], () => {
  for (const dtype of ['float32', 'float16', 'int4'] as const) {
    it(`${dtype}: every variable is on the device when fromPretrained returns, and the logits are those of a model whose weights were uploaded by its first op`, async () => {
      const backend = tf.backend() as unknown as { tensorMap: { get(id: object): { values: unknown; resource: unknown } } };
      const inJs = (model: MambaForCausalLM) => model.weights.filter((w) => backend.tensorMap.get(w.read().dataId).values != null).map((w) => w.name);
      const model = await MambaForCausalLM.fromPretrained(join(root, 'untied'), { dtype });
      try {
        expect(inJs(model), 'weights whose values are still in JS').to.deep.equal([]);
        expect(model.weights.every((w) => backend.tensorMap.get(w.read().dataId).resource != null)).to.equal(true);
        // The model the checkpoint was saved from, built from values (so they stay in JS until its first op) and
        // cast or quantized in memory, gives the same logits bit for bit. (Bit for bit at this shape: tfjs-webgpu
        // runs an op on the CPU only when every input is in JS and small, and every weight-only op here is large.)
        const reference = seededModel({ ...SHAPE, tieWordEmbeddings: false }, 4);
        try {
          if (dtype === 'int4') await quantize(reference, { bits: 4 });
          if (dtype === 'float16') await toFloat16(reference);
          expect(inJs(reference).length, 'a model built from values holds them in JS until used').to.be.above(0);
          expect([...await logits(model)]).to.deep.equal([...await logits(reference)]);
        } finally {
          reference.dispose();
        }
      } finally {
        model.dispose();
      }
    });
  }
});
