/** LoRA against PEFT 0.21 itself: the lora-tiny adapter on the tiny model, and the files saveAdapter writes. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { loadAdapter, loraWeights, saveAdapter } from '../../src/lora/adapter_io.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { describeBackends, expectNoLeaks, KERNEL_BACKENDS } from '../support/backends.js';
import { expectClose, expectCloseRel } from '../support/compare.js';
import { FIXTURES, ref, refIds, TINY } from '../support/reference.js';

const ADAPTER = `${FIXTURES}lora-tiny`;
const REFERENCE = `${ADAPTER}/reference.safetensors`;

/** PEFT's parameter name (with the adapter name `default`) of a key in adapter_model.safetensors. */
function peftParameterName(key: string): string {
  return key.replace(/\.(lora_[AB])\.weight$/, '.$1.default.weight').replace(/\.(lora_embedding_[AB])$/, '.$1.default');
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
}

describeBackends('LoRA: the PEFT-saved lora-tiny adapter', KERNEL_BACKENDS, () => {
  let model: MambaForCausalLM;
  let ids: tf.Tensor2D;
  let dir: string;
  before(async () => {
    model = await MambaForCausalLM.fromPretrained(TINY);
    await loadAdapter(model, ADAPTER);
    ids = refIds('input_ids', REFERENCE);
    dir = await mkdtemp(join(tmpdir(), 'lora-'));
  });
  after(async () => {
    model.dispose();
    ids.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('logits match PEFT within 1e-4 and the loss within 1e-5', async () => {
    const out = model.forward(ids, { labels: ids });
    expectClose('logits', await out.logits.data(), ref('logits', REFERENCE).values, 1e-4);
    expectClose('loss', await out.loss!.data(), ref('loss', REFERENCE).values, 1e-5);
    tf.dispose([out.logits, out.loss!]);
  });

  it('the gradient of every LoRA weight matches PEFT within 1e-3 relative', async () => {
    const weights = loraWeights(model);
    expect(weights.size).to.equal(10);
    const { value, grads } = tf.variableGrads(() => model.forward(ids, { labels: ids }).loss!, [...weights.values()]);
    for (const [key, variable] of weights) {
      const name = `grad.${peftParameterName(key)}`;
      expectCloseRel(name, await grads[variable.name].data(), ref(name, REFERENCE).values, 1e-3);
    }
    tf.dispose([value, ...Object.values(grads)]);
  });

  it('only the adapters are trainable; the base weights are frozen', () => {
    const trainable = new Set(model.trainableWeights.map((w) => w.read()));
    expect([...trainable]).to.have.members([...loraWeights(model).values()]);
    for (const [name, v] of model.namedLayerVariables()) expect(v.trainable, name).to.equal(false);
  });

  it('saveAdapter writes PEFT\'s field set and key names, and loads back equal', async () => {
    await saveAdapter(model, dir);
    const saved = await readJson(join(dir, 'adapter_config.json'));
    const fixture = await readJson(join(ADAPTER, 'adapter_config.json'));
    expect(Object.keys(saved).sort()).to.deep.equal(Object.keys(fixture).sort());
    for (const field of ['peft_type', 'r', 'lora_alpha', 'lora_dropout', 'bias', 'fan_in_fan_out', 'task_type',
      'base_model_name_or_path', 'use_rslora', 'use_dora', 'init_lora_weights', 'inference_mode', 'auto_mapping']) {
      expect(saved[field], field).to.deep.equal(fixture[field]);
    }
    expect(saved.target_modules).to.have.members(fixture.target_modules as string[]);

    const savedFile = parseSafetensors(new Uint8Array(await readFile(join(dir, 'adapter_model.safetensors'))));
    const fixtureFile = parseSafetensors(new Uint8Array(await readFile(join(ADAPTER, 'adapter_model.safetensors'))));
    expect(savedFile.metadata).to.deep.equal({ format: 'pt' });
    expect([...savedFile.tensors.keys()].sort()).to.deep.equal([...fixtureFile.tensors.keys()].sort());
    for (const [key, info] of fixtureFile.tensors) {
      expect(savedFile.tensors.get(key)!.shape, key).to.deep.equal(info.shape);
      expect(savedFile.tensors.get(key)!.toFloat32(), key).to.deep.equal(info.toFloat32());
    }

    const reloaded = await MambaForCausalLM.fromPretrained(TINY);
    await loadAdapter(reloaded, dir);
    const a = model.predict(ids) as tf.Tensor;
    const b = reloaded.predict(ids) as tf.Tensor;
    expectClose('reloaded logits', await b.data(), await a.data(), 0);
    tf.dispose([a, b]);
    reloaded.dispose();
  });

  it('loading into a model that has the same adapters overwrites their weights', async () => {
    const [first] = loraWeights(model).values();
    const saved = first.clone();
    tf.tidy(() => first.assign(tf.zerosLike(first)));
    await loadAdapter(model, ADAPTER);
    expectClose('reloaded weight', await first.data(), await saved.data(), 0);
    saved.dispose();
  });

  it('leaks no tensors in forward, predict and gradients', async () => {
    const weights = [...loraWeights(model).values()];
    await expectNoLeaks(() => {
      for (let i = 0; i < 3; i++) {
        const out = model.forward(ids, { labels: ids });
        tf.dispose([out.logits, out.loss!, model.predict(ids) as tf.Tensor]);
        const { value, grads } = tf.variableGrads(() => model.forward(ids, { labels: ids }).loss!, weights);
        tf.dispose([value, ...Object.values(grads)]);
      }
    });
  });
});
