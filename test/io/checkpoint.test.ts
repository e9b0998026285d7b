import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, mkdir, readFile, rm, unlink, writeFile, cp } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MambaConfig } from '../../src/config.js';
import { loadCheckpoint, saveCheckpoint, type MambaCheckpoint } from '../../src/io/checkpoint.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsEntry } from '../../src/io/safetensors.js';
import type { ReadProgress } from '../../src/io/source.js';

const FIXTURES = path.resolve('test/fixtures');

/** The tiny checkpoint's float32 values straight from its file, the reference for every comparison. */
function tinyReference(): Map<string, { shape: number[]; values: Float32Array }> {
  const parsed = parseSafetensors(new Uint8Array(readFileSync(path.join(FIXTURES, 'tiny/model.safetensors'))));
  return new Map([...parsed.tensors].map(([k, t]) => [k, { shape: t.shape, values: t.toFloat32() }]));
}

function dispose(checkpoint: MambaCheckpoint): void {
  for (const t of checkpoint.weights.values()) t.dispose();
}

/** Loads, runs `body` on the result, disposes it, and fails on any tensor left behind. */
async function withCheckpoint(
  source: string, body: (c: MambaCheckpoint) => void | Promise<void>, onProgress?: (p: ReadProgress) => void,
): Promise<void> {
  const before = tf.memory().numTensors;
  const checkpoint = await loadCheckpoint(source, { onProgress });
  try {
    await body(checkpoint);
  } finally {
    dispose(checkpoint);
  }
  expect(tf.memory().numTensors, 'tensors left behind').to.equal(before);
}

/** Expects loading to fail with `message`, leaving no tensors behind. */
async function expectLoadError(source: string, message: RegExp): Promise<void> {
  const before = tf.memory().numTensors;
  let error: Error | null = null;
  try {
    // As a user meets it: the file read against the model its config builds.
    (await MambaForCausalLM.fromPretrained(source)).dispose();
  } catch (e) {
    error = e as Error;
  }
  expect(error, `expected ${message}`).to.be.instanceOf(Error);
  expect(error!.message).to.match(message);
  expect(tf.memory().numTensors).to.equal(before);
}

/** The keys and shapes of a model built for `config`, from its module tree. */
function keyShapes(config: MambaConfig): Map<string, number[]> {
  const model = new MambaForCausalLM({ config });
  try {
    return new Map([...model.namedLayerVariables()].map(([k, v]) => [k, v.shape as number[]]));
  } finally {
    model.dispose();
  }
}

/** Bit patterns, so that -0 and NaN compare exactly. */
function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/**
 * Half the spacing of the target format at x's binade: the most round-to-nearest can move x.
 * `mantissa` bits and `minExponent` (the smallest normal exponent; below it the spacing is fixed).
 */
function roundingBound(x: number, mantissa: number, minExponent: number): number {
  const exponent = ((new Uint32Array(new Float32Array([x]).buffer)[0] >>> 23) & 0xff) - 127;
  return 2 ** (Math.max(exponent, minExponent) - mantissa) / 2;
}

const tinyConfig = () => JSON.parse(readFileSync(path.join(FIXTURES, 'tiny/config.json'), 'utf8')) as Record<string, unknown>;

describe('loadCheckpoint', function () {
  let tmp: string;
  const reference = tinyReference();

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'mamba-ckpt-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  /** Writes a checkpoint folder from a config and a set of tensors. */
  async function writeCheckpoint(
    name: string, config: Record<string, unknown>, tensors: Map<string, SafetensorsEntry>,
  ): Promise<string> {
    const dir = path.join(tmp, name);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'config.json'), JSON.stringify(config));
    await writeFile(path.join(dir, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
    return dir;
  }

  const tinyEntries = () => new Map<string, SafetensorsEntry>(
    [...reference].map(([k, { shape, values }]) => [k, { dtype: 'F32', shape, data: values }]));

  it('loads tiny: every key the model has, its shape, and the file\'s exact values', async () => {
    await withCheckpoint(path.join(FIXTURES, 'tiny'), async ({ config, weights, generationConfig }) => {
      expect(config.hiddenSize).to.equal(32);
      const shapes = keyShapes(config);
      expect([...weights.keys()].sort()).to.deep.equal([...shapes.keys()].sort());
      expect(weights.size).to.equal(reference.size);
      for (const [name, tensor] of weights) {
        expect(tensor.dtype).to.equal('float32');
        expect(tensor.shape, name).to.deep.equal(shapes.get(name));
        expect(bits(tensor.dataSync() as Float32Array), name).to.deep.equal(bits(reference.get(name)!.values));
      }
      expect(generationConfig).to.include({ bos_token_id: 0, eos_token_id: 0, use_cache: true });
    });
  });

  it('the model\'s module tree names every weight as HF\'s state dict, with HF\'s shapes', () => {
    const config = new MambaConfig({ hiddenSize: 32, stateSize: 8, numHiddenLayers: 1, vocabSize: 96, useBias: true });
    expect(Object.fromEntries(keyShapes(config))).to.deep.equal({
      'backbone.embeddings.weight': [96, 32],
      'backbone.layers.0.norm.weight': [32],
      'backbone.layers.0.mixer.A_log': [64, 8],
      'backbone.layers.0.mixer.D': [64],
      'backbone.layers.0.mixer.conv1d.weight': [64, 1, 4],
      'backbone.layers.0.mixer.conv1d.bias': [64],
      'backbone.layers.0.mixer.in_proj.weight': [128, 32],
      'backbone.layers.0.mixer.in_proj.bias': [128],
      'backbone.layers.0.mixer.x_proj.weight': [18, 64],
      'backbone.layers.0.mixer.dt_proj.weight': [64, 2],
      'backbone.layers.0.mixer.dt_proj.bias': [64],
      'backbone.layers.0.mixer.out_proj.weight': [32, 64],
      'backbone.layers.0.mixer.out_proj.bias': [32],
      'backbone.norm_f.weight': [32],
    });
    const untied = new MambaConfig({ tieWordEmbeddings: false, useConvBias: false, numHiddenLayers: 1 });
    const untiedShapes = keyShapes(MambaConfig.fromJSON({ ...untied.toJSON(), hidden_size: 16, vocab_size: 40 }));
    expect(untiedShapes.get('lm_head.weight')).to.deep.equal([40, 16]);
    expect(untiedShapes.has('backbone.layers.0.mixer.conv1d.bias')).to.equal(false);
  });

  for (const [dir, mantissa, minExponent] of [['tiny-float16', 10, -14], ['tiny-bfloat16', 7, -126]] as const) {
    it(`loads ${dir} to the tiny weights within its rounding, bounded per element`, async () => {
      await withCheckpoint(path.join(FIXTURES, dir), ({ weights }) => {
        let rounded = 0;
        for (const [name, tensor] of weights) {
          const got = tensor.dataSync() as Float32Array;
          const want = reference.get(name)!.values;
          expect(got.length).to.equal(want.length);
          for (let i = 0; i < got.length; i++) {
            const error = Math.abs(got[i] - want[i]);
            if (error > 0) rounded++;
            if (error > roundingBound(want[i], mantissa, minExponent)) {
              expect.fail(`${name}[${i}]: ${got[i]} is ${error} from ${want[i]}, over the bound ${roundingBound(want[i], mantissa, minExponent)}`);
            }
          }
        }
        expect(rounded, 'some values must have been rounded').to.be.above(0);
      });
    });
  }

  it('loads tiny-sharded to exactly the tiny weights, reporting progress per shard', async () => {
    const progress: ReadProgress[] = [];
    await withCheckpoint(path.join(FIXTURES, 'tiny-sharded'), ({ weights }) => {
      expect(weights.size).to.equal(reference.size);
      for (const [name, tensor] of weights) {
        expect(bits(tensor.dataSync() as Float32Array), name).to.deep.equal(bits(reference.get(name)!.values));
      }
    }, (p) => progress.push({ ...p }));
    const finished = progress.filter((p) => p.loaded === p.total).map((p) => p.file);
    for (const shard of ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']) {
      expect(finished).to.include(shard);
    }
  });

  it('reports progress for a single file', async () => {
    const progress: ReadProgress[] = [];
    await withCheckpoint(path.join(FIXTURES, 'tiny'), () => undefined, (p) => progress.push({ ...p }));
    const size = readFileSync(path.join(FIXTURES, 'tiny/model.safetensors')).byteLength;
    expect(progress[0]).to.deep.equal({ file: 'model.safetensors', loaded: 0, total: size });
    expect(progress.at(-1)).to.deep.equal({ file: 'model.safetensors', loaded: size, total: size });
  });

  it('saves what HF saved, byte for byte, and loads it back bit for bit', async () => {
    const loaded = await loadCheckpoint(path.join(FIXTURES, 'tiny'));
    const dir = path.join(tmp, 'saved');
    try {
      await saveCheckpoint(dir, loaded.config, loaded.weights);
    } finally {
      dispose(loaded);
    }
    const written = await readFile(path.join(dir, 'model.safetensors'));
    expect(written.equals(readFileSync(path.join(FIXTURES, 'tiny/model.safetensors')))).to.equal(true);
    expect(JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'))).to.deep.equal(tinyConfig());
    await withCheckpoint(dir, ({ weights }) => {
      for (const [name, tensor] of weights) {
        expect(bits(tensor.dataSync() as Float32Array), name).to.deep.equal(bits(reference.get(name)!.values));
      }
    });
  });

  it('saves an F16 checkpoint as F32 with the tied head left out, and writes generation_config.json', async () => {
    const loaded = await loadCheckpoint(path.join(FIXTURES, 'tiny-float16'));
    const dir = path.join(tmp, 'saved-f16');
    try {
      const withHead = new Map(loaded.weights).set('lm_head.weight', loaded.weights.get('backbone.embeddings.weight')!);
      await saveCheckpoint(dir, loaded.config, withHead, { generationConfig: loaded.generationConfig });
      const parsed = parseSafetensors(new Uint8Array(await readFile(path.join(dir, 'model.safetensors'))));
      expect(parsed.metadata).to.deep.equal({ format: 'pt' });
      expect(parsed.tensors.has('lm_head.weight')).to.equal(false);
      expect([...parsed.tensors.values()].every((t) => t.dtype === 'F32')).to.equal(true);
      await withCheckpoint(dir, ({ weights, generationConfig }) => {
        expect(generationConfig).to.deep.equal(loaded.generationConfig);
        for (const [name, tensor] of weights) {
          expect(bits(tensor.dataSync() as Float32Array)).to.deep.equal(bits(loaded.weights.get(name)!.dataSync() as Float32Array));
        }
      });
    } finally {
      dispose(loaded);
    }
  });

  it('maps mamba_ssm names and config in', async () => {
    const entries = tinyEntries();
    const emb = entries.get('backbone.embeddings.weight')!;
    entries.delete('backbone.embeddings.weight');
    entries.set('backbone.embedding.weight', emb);
    const dir = await writeCheckpoint('mamba-ssm', {
      d_model: 32, n_layer: 2, vocab_size: 90, pad_vocab_size_multiple: 16, ssm_cfg: { d_state: 8 },
      rms_norm: true, residual_in_fp32: true, fused_add_norm: true,
    }, entries);
    await withCheckpoint(dir, ({ config, weights }) => {
      expect(config.vocabSize).to.equal(96);
      expect(weights.has('backbone.embedding.weight')).to.equal(false);
      expect(bits(weights.get('backbone.embeddings.weight')!.dataSync() as Float32Array)).to.deep.equal(bits(emb.data as Float32Array));
    });
  });

  it('adds the backbone. prefix to a file saved from MambaModel', async () => {
    const entries = new Map([...tinyEntries()].map(([k, v]) => [k.replace(/^backbone\./, ''), v]));
    const dir = await writeCheckpoint('bare', tinyConfig(), entries);
    const expected = [...keyShapes(MambaConfig.fromJSON(tinyConfig())).keys()].sort();
    await withCheckpoint(dir, ({ weights }) => {
      expect([...weights.keys()].sort()).to.deep.equal(expected);
    });
  });

  it('drops a tied lm_head equal to the embeddings', async () => {
    const entries = tinyEntries().set('lm_head.weight', tinyEntries().get('backbone.embeddings.weight')!);
    const dir = await writeCheckpoint('tied-equal', tinyConfig(), entries);
    await withCheckpoint(dir, ({ weights }) => {
      expect(weights.has('lm_head.weight')).to.equal(false);
    });
  });

  it('rejects a tied lm_head that differs from the embeddings', async () => {
    const head = Float32Array.from(reference.get('backbone.embeddings.weight')!.values);
    head[5] += 1;
    const entries = tinyEntries().set('lm_head.weight', { dtype: 'F32', shape: [96, 32], data: head });
    const dir = await writeCheckpoint('tied-different', tinyConfig(), entries);
    await expectLoadError(dir, /lm_head.weight differs from backbone.embeddings.weight but tie_word_embeddings is true/);
  });

  it('keeps an untied lm_head, and requires it', async () => {
    const head = Float32Array.from(reference.get('backbone.embeddings.weight')!.values).map((v) => v * 2);
    const untied = { ...tinyConfig(), tie_word_embeddings: false };
    const dir = await writeCheckpoint('untied', untied, tinyEntries().set('lm_head.weight', { dtype: 'F32', shape: [96, 32], data: head }));
    await withCheckpoint(dir, ({ weights }) => {
      expect(bits(weights.get('lm_head.weight')!.dataSync() as Float32Array)).to.deep.equal(bits(head));
    });
    const missing = await writeCheckpoint('untied-missing', untied, tinyEntries());
    await expectLoadError(missing, /missing keys: lm_head.weight/);
  });

  it('reports missing, unexpected and misshapen keys by name in one error', async () => {
    const entries = tinyEntries();
    entries.delete('backbone.layers.1.mixer.D');
    entries.delete('backbone.norm_f.weight');
    entries.set('backbone.layers.2.norm.weight', { dtype: 'F32', shape: [32], data: new Float32Array(32) });
    entries.set('backbone.layers.0.mixer.A_log', { dtype: 'F32', shape: [8, 64], data: new Float32Array(512) });
    const dir = await writeCheckpoint('wrong-keys', tinyConfig(), entries);
    await expectLoadError(dir, new RegExp(
      'does not match the model: missing keys: backbone.layers.1.mixer.D, backbone.norm_f.weight\\. ' +
      'unexpected keys: backbone.layers.2.norm.weight\\. wrong shapes: backbone.layers.0.mixer.A_log is \\[8,64\\], expected \\[64,8\\]'));
  });

  it('checks shapes against the config (a config that does not fit the file)', async () => {
    const dir = await writeCheckpoint('wrong-config', { ...tinyConfig(), state_size: 16 }, tinyEntries());
    await expectLoadError(dir, /wrong shapes: backbone.layers.0.mixer.A_log is \[64,8\], expected \[64,16\]/);
  });

  it('rejects integer weights, naming the tensor', async () => {
    const entries = tinyEntries().set('backbone.norm_f.weight', { dtype: 'I32', shape: [32], data: new Int32Array(32) });
    const dir = await writeCheckpoint('int-weights', tinyConfig(), entries);
    await expectLoadError(dir, /backbone.norm_f.weight in model.safetensors is I32; weights must be F32, F16, BF16 or F64/);
  });

  it('names a malformed weights file', async () => {
    const dir = path.join(tmp, 'malformed');
    await cp(path.join(FIXTURES, 'tiny'), dir, { recursive: true });
    const bytes = readFileSync(path.join(dir, 'model.safetensors'));
    await writeFile(path.join(dir, 'model.safetensors'), bytes.subarray(0, bytes.byteLength - 3));
    await expectLoadError(dir,
      /model.safetensors at .*malformed: safetensors: tensor 'backbone.norm_f.weight': data_offsets end 79744 is past the end of the data \(79741 bytes; file truncated\?\)/);
  });

  it('names every missing shard', async () => {
    const dir = path.join(tmp, 'sharded-missing');
    await cp(path.join(FIXTURES, 'tiny-sharded'), dir, { recursive: true });
    await unlink(path.join(dir, 'model-00001-of-00003.safetensors'));
    await unlink(path.join(dir, 'model-00003-of-00003.safetensors'));
    await expectLoadError(dir, /missing shards at .*: model-00001-of-00003.safetensors, model-00003-of-00003.safetensors \(listed in model.safetensors.index.json\)/);
  });

  it('rejects an index that puts a tensor in the wrong shard, or lists one no shard holds', async () => {
    const index = JSON.parse(readFileSync(path.join(FIXTURES, 'tiny-sharded/model.safetensors.index.json'), 'utf8'));
    const wrong = path.join(tmp, 'sharded-wrong');
    await cp(path.join(FIXTURES, 'tiny-sharded'), wrong, { recursive: true });
    index.weight_map['backbone.norm_f.weight'] = 'model-00001-of-00003.safetensors';
    await writeFile(path.join(wrong, 'model.safetensors.index.json'), JSON.stringify(index));
    await expectLoadError(wrong, /backbone.norm_f.weight is in model-00003-of-00003.safetensors but model.safetensors.index.json puts it in model-00001-of-00003.safetensors/);
    const extra = path.join(tmp, 'sharded-extra');
    await cp(path.join(FIXTURES, 'tiny-sharded'), extra, { recursive: true });
    const original = JSON.parse(readFileSync(path.join(FIXTURES, 'tiny-sharded/model.safetensors.index.json'), 'utf8'));
    original.weight_map['backbone.layers.9.norm.weight'] = 'model-00002-of-00003.safetensors';
    await writeFile(path.join(extra, 'model.safetensors.index.json'), JSON.stringify(original));
    await expectLoadError(extra, /lists tensors its shards do not hold: backbone.layers.9.norm.weight \(model-00002-of-00003.safetensors\)/);
  });

  it('says what is missing from a folder without weights or config', async () => {
    const noWeights = path.join(tmp, 'no-weights');
    await mkdir(noWeights, { recursive: true });
    await writeFile(path.join(noWeights, 'config.json'), JSON.stringify(tinyConfig()));
    await expectLoadError(noWeights, /no model.safetensors or model.safetensors.index.json at .*no-weights/);
    const empty = path.join(tmp, 'empty');
    await mkdir(empty, { recursive: true });
    await expectLoadError(empty, /config.json not found: .*empty.config.json/);
  });

  it('names a bad config field', async () => {
    const dir = await writeCheckpoint('bad-config', { ...tinyConfig(), model_type: 'llama' }, tinyEntries());
    await expectLoadError(dir, /model_type must be "mamba", got "llama"/);
  });

  it('explains sources it cannot open', async () => {
    await expectLoadError(path.join(tmp, 'nope', 'nothing'), /is not a folder, an http\(s\):\/\/ URL or a Hub id/);
    await expectLoadError(path.join(FIXTURES, 'tiny/config.json'), /is a file; give the folder that holds config.json/);
  });
});
