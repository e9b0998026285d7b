/**
 * applyLora on the tiny model: which modules PEFT's rules select, the shapes, ranks, scalings and
 * initial values of the adapters, freezing, parameter counts and the errors. Selection and
 * bookkeeping do not touch kernels, so this runs on cpu alone.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { serializeSafetensors } from '../../src/io/safetensors.js';
import { loadAdapter, loraWeights, saveAdapter } from '../../src/lora/adapter_io.js';
import { applyLora } from '../../src/lora/apply.js';
import { mergeLora } from '../../src/lora/merge.js';
import { loraState } from '../../src/lora/state.js';
import { formatTrainableParameters } from '../../src/lora/trainable.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { MambaModel } from '../../src/model/mamba_model.js';
import { describeBackends } from '../support/backends.js';
import { expectClose, maxAbs } from '../support/compare.js';
import { FIXTURES, TINY } from '../support/reference.js';

const CONFIG = JSON.parse(readFileSync(`${TINY}/config.json`, 'utf8')) as Record<string, unknown>;
const ALL = ['in_proj', 'x_proj', 'dt_proj', 'out_proj', 'conv1d', 'embeddings'];
const P = 'base_model.model.backbone.';

/** The adapted module paths, without the key prefix and weight names. */
function adapted(model: MambaForCausalLM | MambaModel): string[] {
  return loraState(model, 'test').layers.map((l) => l.path);
}

function rms(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] * values[i];
  return Math.sqrt(sum / values.length);
}

describeBackends('LoRA: applyLora', ['cpu'], () => {
  const models: tf.LayersModel[] = [];
  const tiny = () => {
    const model = new MambaForCausalLM({ config: CONFIG });
    models.push(model);
    return model;
  };
  afterEach(() => {
    for (const m of models.splice(0)) m.dispose();
  });

  it('a name adapts that module in every layer; a path suffix, one', () => {
    const model = tiny();
    applyLora(model, { r: 4, alpha: 8, targetModules: ['in_proj', 'layers.1.mixer.x_proj'] });
    expect(adapted(model)).to.deep.equal([
      'backbone.layers.0.mixer.in_proj', 'backbone.layers.1.mixer.in_proj', 'backbone.layers.1.mixer.x_proj',
    ]);
  });

  it('regexes: a list entry with regex characters, or one string, full-matches the module path', () => {
    const a = tiny();
    applyLora(a, { r: 2, alpha: 2, targetModules: ['backbone\\.layers\\.0\\.mixer\\.(in|out)_proj', 'embeddings'] });
    expect(adapted(a)).to.deep.equal(
      ['backbone.embeddings', 'backbone.layers.0.mixer.in_proj', 'backbone.layers.0.mixer.out_proj']);
    const b = tiny();
    applyLora(b, { r: 2, alpha: 2, targetModules: '.*\\.layers\\.1\\.mixer\\.(dt_proj|conv1d)' });
    // In HF's module order (named_modules), as PEFT walks them.
    expect(adapted(b)).to.deep.equal(['backbone.layers.1.mixer.conv1d', 'backbone.layers.1.mixer.dt_proj']);
  });

  it('gives every target PEFT\'s shapes and names', () => {
    const model = tiny();
    applyLora(model, { r: 4, alpha: 8, targetModules: ALL });
    const shapes = Object.fromEntries([...loraWeights(model)].map(([k, v]) => [k, v.shape]));
    expect(Object.keys(shapes)).to.have.length(2 * (1 + 2 * 5));
    expect(shapes).to.deep.include({
      [`${P}embeddings.lora_embedding_A`]: [4, 96],
      [`${P}embeddings.lora_embedding_B`]: [32, 4],
      [`${P}layers.0.mixer.in_proj.lora_A.weight`]: [4, 32],
      [`${P}layers.0.mixer.in_proj.lora_B.weight`]: [128, 4],
      [`${P}layers.0.mixer.x_proj.lora_B.weight`]: [18, 4],
      [`${P}layers.0.mixer.dt_proj.lora_A.weight`]: [4, 2],
      [`${P}layers.1.mixer.out_proj.lora_A.weight`]: [4, 64],
      [`${P}layers.1.mixer.conv1d.lora_A.weight`]: [4, 64, 4],
      [`${P}layers.1.mixer.conv1d.lora_B.weight`]: [64, 4, 1],
    });
  });

  it('a bare MambaModel uses HF MambaModel\'s paths (no backbone. prefix)', () => {
    const model = new MambaModel({ config: CONFIG });
    models.push(model);
    applyLora(model, { r: 2, alpha: 4, targetModules: ['embeddings', 'layers.0.mixer.in_proj'] });
    expect([...loraWeights(model).keys()]).to.deep.equal([
      'base_model.model.embeddings.lora_embedding_A', 'base_model.model.embeddings.lora_embedding_B',
      'base_model.model.layers.0.mixer.in_proj.lora_A.weight', 'base_model.model.layers.0.mixer.in_proj.lora_B.weight',
    ]);
  });

  it('rankPattern and alphaPattern set rank and scaling per module; useRslora scales by alpha/sqrt(r)', () => {
    const model = tiny();
    applyLora(model, {
      r: 4, alpha: 8, targetModules: ['in_proj', 'x_proj'],
      rankPattern: { 'layers\\.1\\.mixer\\.in_proj': 8 }, alphaPattern: { x_proj: 32 },
    });
    const settings = Object.fromEntries(loraState(model, 'test').layers.map((l) => [l.path, l.settings]));
    expect(settings['backbone.layers.0.mixer.in_proj']).to.include({ r: 4, alpha: 8, scaling: 2 });
    expect(settings['backbone.layers.1.mixer.in_proj']).to.include({ r: 8, alpha: 8, scaling: 1 });
    expect(settings['backbone.layers.0.mixer.x_proj']).to.include({ r: 4, alpha: 32, scaling: 8 });
    expect(loraWeights(model).get(`${P}layers.1.mixer.in_proj.lora_A.weight`)!.shape).to.deep.equal([8, 32]);

    const rs = tiny();
    applyLora(rs, { r: 4, alpha: 8, targetModules: ['in_proj'], useRslora: true });
    expect(loraState(rs, 'test').layers[0].settings.scaling).to.equal(4);
  });

  it('initialises as PEFT: A Kaiming-uniform and B zero; embeddings A zero and B normal; the output is unchanged', () => {
    const model = tiny();
    const ids = tf.tensor2d([[1, 5, 9, 3, 7, 2]], [1, 6], 'int32');
    const before = model.predict(ids) as tf.Tensor;
    applyLora(model, { r: 4, alpha: 8, targetModules: ALL });
    const w = loraWeights(model);
    const values = (key: string) => w.get(key)!.dataSync();
    const inA = values(`${P}layers.0.mixer.in_proj.lora_A.weight`);
    expect(maxAbs(inA)).to.be.within(0.5 / Math.sqrt(32), 1 / Math.sqrt(32));
    expect(maxAbs(values(`${P}layers.0.mixer.conv1d.lora_A.weight`))).to.be.at.most(1 / Math.sqrt(64 * 4));
    expect(maxAbs(values(`${P}layers.0.mixer.in_proj.lora_B.weight`))).to.equal(0);
    expect(maxAbs(values(`${P}embeddings.lora_embedding_A`))).to.equal(0);
    const embB = values(`${P}embeddings.lora_embedding_B`);
    expect(rms(embB)).to.be.within(0.7, 1.3);
    const after = model.predict(ids) as tf.Tensor;
    expectClose('logits after applyLora', after.dataSync(), before.dataSync(), 1e-6);
    tf.dispose([ids, before, after]);
  });

  it('initLoraWeights: "gaussian" draws A from normal(1/r); false leaves B non-zero', () => {
    const g = tiny();
    applyLora(g, { r: 4, alpha: 8, targetModules: ['in_proj'], initLoraWeights: 'gaussian' });
    const a = loraWeights(g).get(`${P}layers.0.mixer.in_proj.lora_A.weight`)!.dataSync();
    expect(rms(a)).to.be.within(0.15, 0.35);
    const f = tiny();
    applyLora(f, { r: 4, alpha: 8, targetModules: ['in_proj'], initLoraWeights: false });
    expect(maxAbs(loraWeights(f).get(`${P}layers.0.mixer.in_proj.lora_B.weight`)!.dataSync())).to.be.above(0);
  });

  it('freezes every base weight and counts parameters as PEFT prints them', () => {
    const model = tiny();
    expect(formatTrainableParameters(model)).to.equal('trainable params: 19,936 || all params: 19,936 || trainable%: 100.0000');
    applyLora(model, { r: 4, alpha: 8, targetModules: ['x_proj', 'embeddings', 'in_proj'] });
    for (const [name, v] of model.namedLayerVariables()) expect(v.trainable, name).to.equal(false);
    // embeddings 4*96 + 32*4, in_proj 4*32 + 128*4, x_proj 4*64 + 18*4, in two layers
    expect(formatTrainableParameters(model)).to.equal('trainable params: 2,448 || all params: 22,384 || trainable%: 10.9364');
  });

  it('saves a target list holding regexes as one regex that selects the same modules', async () => {
    const model = tiny();
    const targets = ['embeddings', 'backbone\\.layers\\.1\\.mixer\\.(x|dt)_proj'];
    applyLora(model, { r: 2, alpha: 4, targetModules: targets });
    const dir = await mkdtemp(join(tmpdir(), 'lora-'));
    try {
      await saveAdapter(model, dir, { baseModelNameOrPath: 'tiny' });
      const config = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      expect(config.target_modules).to.be.a('string');
      expect(config.base_model_name_or_path).to.equal('tiny');
      const reloaded = tiny();
      await loadAdapter(reloaded, dir);
      expect(adapted(reloaded)).to.deep.equal(adapted(model));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('savePretrained and tfjs save refuse to drop unmerged adapters, naming the writer that keeps them; merged, savePretrained writes the merged model', async () => {
    const model = tiny();
    applyLora(model, { r: 2, alpha: 4, targetModules: ['in_proj'], initLoraWeights: false });
    const dir = await mkdtemp(join(tmpdir(), 'lora-'));
    try {
      const refused = await model.savePretrained(dir).then(() => null, (e: Error) => e);
      expect(refused?.message).to.match(/savePretrained: the model carries LoRA adapters that are not merged.*saveAdapter\(model, dir\).*mergeLora\(model\)/);
      const layers = await model.save(`file://${join(dir, 'layers')}`).then(() => null, (e: Error) => e);
      expect(layers?.message).to.match(/save: the model carries LoRA adapters, which tf.loadLayersModel cannot rebuild; saveAdapter/);
      const ids = tf.tensor2d([[1, 2, 3]], [1, 3], 'int32');
      const adapted = model.predict(ids) as tf.Tensor;
      mergeLora(model);
      await model.savePretrained(join(dir, 'merged'));
      const merged = await MambaForCausalLM.fromPretrained(join(dir, 'merged'));
      models.push(merged);
      const again = merged.predict(ids) as tf.Tensor;
      expectClose('merged model vs adapted', await again.data(), await adapted.data(), 1e-5);
      tf.dispose([ids, adapted, again]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('loadAdapter refuses adapters it cannot run, naming the field', async () => {
    const fixture = JSON.parse(await readFile(`${FIXTURES}lora-tiny/adapter_config.json`, 'utf8')) as Record<string, unknown>;
    const weights = await readFile(`${FIXTURES}lora-tiny/adapter_model.safetensors`);
    const dir = await mkdtemp(join(tmpdir(), 'lora-'));
    try {
      await writeFile(join(dir, 'adapter_model.safetensors'), weights);
      for (const [change, error] of [
        [{ peft_type: 'IA3' }, /peft_type is "IA3"; only LORA/],
        [{ use_dora: true }, /DoRA \(use_dora: true\) is not supported/],
        [{ init_lora_weights: 'pissa' }, /init_lora_weights "pissa" is not supported/],
        [{ modules_to_save: ['lm_head'] }, /modules_to_save/],
        // LoRA variants PEFT turns on by any non-null value, even {}: each changes the forward, training or the tensors
        [{ kasa_config: {} }, /KaSA \(kasa_config: \{\}\) is not supported/],
        [{ use_bdlora: { nblocks: 2 } }, /BD-LoRA \(use_bdlora: /],
        [{ arrow_config: { top_k: 2 } }, /Arrow \(arrow_config: /],
        [{ monteclora_config: {} }, /MonteCLoRA \(monteclora_config: /],
        [{ velora_config: {} }, /VeLoRA \(velora_config: /],
        [{ target_modules: ['in_proj'] }, /unexpected \[.*x_proj/],
        // weights of another rank than the config's: found before anything is applied
        [{ r: 8, lora_alpha: 16 }, /embeddings.lora_embedding_A: adapter_config.json at .* makes it \[8,.*\], adapter_model.safetensors has \[4,/],
      ] as [Record<string, unknown>, RegExp][]) {
        await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...fixture, ...change }));
        const model = tiny();
        await loadAdapter(model, dir).then(() => expect.fail('loaded'), (e: Error) => expect(e.message).to.match(error));
        expect(model.trainableWeights.length, 'nothing applied').to.equal(model.namedLayerVariables().size);
        expect(model.lora, 'nothing applied').to.equal(null);
        await loadAdapter(model, `${FIXTURES}lora-tiny`);   // and the model takes a good adapter after
        expect(adapted(model).length).to.be.greaterThan(0);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('loadAdapter reads null as PEFT does: off for use_dora, lora_bias and use_qalora (falsy there), refused for bias (PEFT raises on it)', async () => {
    const fixture = JSON.parse(await readFile(`${FIXTURES}lora-tiny/adapter_config.json`, 'utf8')) as Record<string, unknown>;
    const dir = await mkdtemp(join(tmpdir(), 'lora-'));
    try {
      await writeFile(join(dir, 'adapter_model.safetensors'), await readFile(`${FIXTURES}lora-tiny/adapter_model.safetensors`));
      const reference = tiny();
      await loadAdapter(reference, `${FIXTURES}lora-tiny`);
      await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...fixture, use_dora: null, lora_bias: null, use_qalora: null }));
      const model = tiny();
      await loadAdapter(model, dir);
      // the same adapters, scalings and weights as the fixture's own config gives
      const settings = (m: MambaForCausalLM) => m.lora!.layers.map((l) => `${l.path} ${l.settings.scaling} ${l.settings.dropout}`);
      expect(settings(model)).to.deep.equal(settings(reference)).and.to.have.length.greaterThan(0);
      const want = loraWeights(reference);
      for (const [key, v] of loraWeights(model)) expectClose(key, await v.data(), await want.get(key)!.data(), 0);
      await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...fixture, bias: null }));
      await loadAdapter(tiny(), dir).then(() => expect.fail('loaded'), (e: Error) => expect(e.message).to.match(/bias other than 'none' \(bias: null\) is not supported/));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("loadAdapter names PEFT's grouped conv1d layout (lora_B [I, r / I, 1]) where it refuses it", async () => {
    // PEFT 0.16+ groups a depthwise conv's lora_B (r a multiple of I): the weights of such an adapter
    const grouped = tiny();
    const channels = grouped.config.intermediateSize;
    applyLora(grouped, { r: channels, alpha: 8, targetModules: ['conv1d'] });
    const dir = await mkdtemp(join(tmpdir(), 'lora-'));
    try {
      await saveAdapter(grouped, dir);
      const entries = new Map([...loraWeights(grouped)].map(([key, v]) => {
        const shape = key.endsWith('lora_B.weight') ? [channels, 1, 1] : v.shape;
        return [key, { dtype: 'F32' as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) }];
      }));
      await writeFile(join(dir, 'adapter_model.safetensors'), serializeSafetensors(entries));
      const model = tiny();
      await loadAdapter(model, dir).then(() => expect.fail('loaded'), (e: Error) => expect(e.message).to.match(
        new RegExp(`conv1d.lora_B.weight: .* has \\[${channels},1,1\\]: PEFT's grouped LoRA on a depthwise conv`)));
      expect(model.lora, 'nothing applied').to.equal(null);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names the valid targets when one matches nothing, and rejects bad settings', () => {
    const model = tiny();
    for (const targetModules of [['q_proj'], ['in_proj', 'lm_head'], 'layers\\.9\\..*']) {
      expect(() => applyLora(model, { r: 4, alpha: 8, targetModules }))
        .to.throw(/matches no module.*in_proj, x_proj, dt_proj, out_proj, conv1d, embeddings/);
    }
    expect(() => applyLora(model, { r: 4, alpha: 8, targetModules: ['in_proj('] })).to.throw(/not a valid regex/);
    // PEFT would try these modules too and refuse them: a saved regex must select adaptable modules alone
    for (const [targetModules, other] of [['backbone\\.layers\\.0\\..*', 'backbone.layers.0.norm'],
      [['in_proj', '.*_f'], 'backbone.norm_f'], ['.*(proj|head)', 'lm_head'],
      // modules HF's tree has and this one leaves out: each mixer's activation (nn.SiLU), the layers' ModuleList
      ['.*mixer\\.(in_proj|act)', 'backbone.layers.0.mixer.act'], ['backbone\\.layers', 'backbone.layers']] as [string[] | string, string][]) {
      expect(() => applyLora(model, { r: 4, alpha: 8, targetModules })).to.throw(`matches ${other}, which LoRA cannot adapt`);
    }
    expect(() => applyLora(model, { r: 0, alpha: 8, targetModules: ['in_proj'] })).to.throw(/r must be a positive integer/);
    expect(() => applyLora(model, { r: 4, alpha: 8, targetModules: [] })).to.throw(/targetModules is empty/);
    expect(() => applyLora(model, { r: 4, alpha: 8, dropout: 1, targetModules: ['in_proj'] })).to.throw(/dropout/);
    expect(model.trainableWeights.length, 'a failed call changes nothing').to.equal(model.namedLayerVariables().size);
    applyLora(model, { r: 4, alpha: 8, targetModules: ['in_proj'] });
    expect(() => applyLora(model, { r: 4, alpha: 8, targetModules: ['x_proj'] })).to.throw(/already has LoRA adapters/);
  });
});
