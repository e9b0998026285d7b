import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { MambaConfig } from '../src/config.js';
import { MambaForCausalLM } from '../src/model/causal_lm.js';

const FIXTURES = path.resolve('test/fixtures');
const TINY_DIRS = readdirSync(FIXTURES).filter((d) => d.startsWith('tiny'));

function fixtureConfig(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(FIXTURES, dir, 'config.json'), 'utf8')) as Record<string, unknown>;
}

describe('MambaConfig', () => {
  it('finds the tiny fixtures', () => {
    expect(TINY_DIRS).to.include.members(['tiny', 'tiny-float16', 'tiny-bfloat16', 'tiny-sharded']);
  });

  for (const dir of TINY_DIRS) {
    it(`round-trips ${dir}/config.json field for field`, () => {
      const json = fixtureConfig(dir);
      const config = MambaConfig.fromJSON(json);
      const out = config.toJSON();
      expect(out).to.deep.equal(json);
      expect(Object.keys(out)).to.deep.equal(Object.keys(json).sort());
      expect(MambaConfig.fromJSON(out).toJSON()).to.deep.equal(json);
      expect(config.hiddenSize).to.equal(json.hidden_size);
      expect(config.intermediateSize).to.equal(json.intermediate_size);
      expect(config.timeStepRank).to.equal(json.time_step_rank);
      expect(config.extra).to.deep.equal({
        architectures: json.architectures, dtype: json.dtype, transformers_version: json.transformers_version,
      });
    });
  }

  it("has HF's defaults", () => {
    expect(new MambaConfig().toJSON()).to.deep.equal({
      bos_token_id: 0, conv_kernel: 4, eos_token_id: 0, expand: 2, hidden_act: 'silu', hidden_size: 768,
      initializer_range: 0.1, intermediate_size: 1536, layer_norm_epsilon: 1e-5, model_type: 'mamba',
      num_hidden_layers: 32, pad_token_id: 0, rescale_prenorm_residual: false, residual_in_fp32: true,
      state_size: 16, tie_word_embeddings: true, time_step_floor: 1e-4, time_step_init_scheme: 'random',
      time_step_max: 0.1, time_step_min: 0.001, time_step_rank: 48, time_step_scale: 1.0,
      use_associative_scan: true, use_bias: false, use_cache: true, use_conv_bias: true, use_mambapy: false,
      vocab_size: 50280,
    });
  });

  it('derives intermediate_size and an "auto" time_step_rank', () => {
    const c = new MambaConfig({ hiddenSize: 40, expand: 3 });
    expect(c.intermediateSize).to.equal(120);
    expect(c.timeStepRank).to.equal(3);
    expect(MambaConfig.fromJSON({ hidden_size: 33, time_step_rank: 'auto' }).timeStepRank).to.equal(3);
    expect(new MambaConfig({ hiddenSize: 32, timeStepRank: 5 }).timeStepRank).to.equal(5);
  });

  it('takes camelCase partials', () => {
    const c = new MambaConfig({ hiddenSize: 32, numHiddenLayers: 2, stateSize: 8, vocabSize: 96, useBias: true });
    expect([c.hiddenSize, c.numHiddenLayers, c.stateSize, c.vocabSize, c.useBias, c.convKernel])
      .to.deep.equal([32, 2, 8, 96, true, 4]);
    expect(c.toJSON().use_bias).to.equal(true);
  });

  it('keeps a stored intermediate_size, as HF does', () => {
    expect(MambaConfig.fromJSON({ hidden_size: 32, intermediate_size: 48 }).intermediateSize).to.equal(48);
  });

  it('keeps unknown keys verbatim', () => {
    const json = {
      hidden_size: 64, d_model: 64, n_layer: 2, pad_vocab_size_multiple: 8, transformers_version: '4.39.0',
      architectures: ['MambaForCausalLM'], torch_dtype: 'float16', nested: { a: [1, { b: null }] },
    };
    const out = MambaConfig.fromJSON(json).toJSON();
    for (const [k, v] of Object.entries(json)) expect(out[k], k).to.deep.equal(v);
  });

  it('maps mamba_ssm configs in (d_model, n_layer, padded vocab, ssm_cfg)', () => {
    const c = MambaConfig.fromJSON({
      d_model: 768, n_layer: 24, vocab_size: 50277, ssm_cfg: { d_state: 8, d_conv: 3, expand: 3, conv_bias: false },
      rms_norm: true, residual_in_fp32: true, fused_add_norm: true, pad_vocab_size_multiple: 8, tie_embeddings: false,
    });
    expect([c.hiddenSize, c.numHiddenLayers, c.vocabSize, c.stateSize, c.convKernel, c.expand, c.useConvBias])
      .to.deep.equal([768, 24, 50280, 8, 3, 3, false]);
    expect(c.tieWordEmbeddings).to.equal(false);
    expect(c.intermediateSize).to.equal(2304);
    expect(c.extra.vocab_size).to.equal(undefined);
    expect(c.toJSON().d_model).to.equal(768);
  });

  it('prefers HF keys over mamba_ssm aliases', () => {
    const c = MambaConfig.fromJSON({ hidden_size: 32, d_model: 64, vocab_size: 97, pad_vocab_size_multiple: 8 });
    expect([c.hiddenSize, c.vocabSize]).to.deep.equal([32, 97]);
  });

  const invalid: [string, Record<string, unknown>, RegExp][] = [
    ['negative size', { hidden_size: -1 }, /hidden_size \(hiddenSize\) must be a positive integer, got -1/],
    ['zero size', { num_hidden_layers: 0 }, /num_hidden_layers .* must be a positive integer, got 0/],
    ['fractional size', { state_size: 7.5 }, /state_size .* must be a positive integer, got 7.5/],
    ['size as a string', { vocab_size: '96' }, /vocab_size .* must be a positive integer, got "96"/],
    ['model_type', { model_type: 'mamba2' }, /model_type must be "mamba", got "mamba2"/],
    ['boolean as a string', { use_bias: 'false' }, /use_bias \(useBias\) must be true or false/],
    ['activation', { hidden_act: 'gelu_new' }, /hidden_act .* must be one of silu, swish, got "gelu_new"/],
    ['epsilon', { layer_norm_epsilon: 0 }, /layer_norm_epsilon .* must be a positive number/],
    ['time_step_rank', { time_step_rank: 'big' }, /time_step_rank .* must be a positive integer or "auto"/],
    ['time_step_init_scheme', { time_step_init_scheme: 'zeros' }, /time_step_init_scheme .* "random", "uniform" or "constant"/],
    ['token id', { eos_token_id: -2 }, /eos_token_id .* non-negative integer/],
    ['token id list', { eos_token_id: [0, 'x'] }, /eos_token_id .* non-negative integer/],
    ['null number', { time_step_scale: null }, /time_step_scale .* must be a finite number/],
    ['rms_norm false', { d_model: 32, rms_norm: false }, /rms_norm must be true/],
    ['Mamba2 ssm_cfg', { d_model: 32, ssm_cfg: { layer: 'Mamba2' } }, /ssm_cfg.layer must be "Mamba1"/],
    ['pad_vocab_size_multiple', { d_model: 32, vocab_size: 10, pad_vocab_size_multiple: 0 }, /pad_vocab_size_multiple .* positive integer/],
  ];
  for (const [what, json, message] of invalid) {
    it(`rejects an invalid ${what}, naming the field`, () => {
      expect(() => MambaConfig.fromJSON(json)).to.throw(Error, message);
    });
  }

  it('rejects a config.json that is not an object', () => {
    expect(() => MambaConfig.fromJSON([1])).to.throw(/must hold a JSON object/);
    expect(() => MambaConfig.fromJSON(null)).to.throw(/must hold a JSON object/);
  });

  it('validates camelCase input too', () => {
    expect(() => new MambaConfig({ convKernel: 0 })).to.throw(/conv_kernel \(convKernel\) must be a positive integer/);
    expect(() => new MambaConfig({ extra: { hidden_size: 3 } })).to.throw(/extra key 'hidden_size' is a field/);
  });

  it('from(): a layer\'s config argument in either spelling, never a mix, never silently the default model', () => {
    const given = new MambaConfig({ hiddenSize: 64 });
    expect(MambaConfig.from(given)).to.equal(given);
    const camel = MambaConfig.from({ hiddenSize: 64, numHiddenLayers: 2, vocabSize: 100, expand: 3 });
    const snake = MambaConfig.from({ hidden_size: 64, num_hidden_layers: 2, vocab_size: 100, expand: 3, architectures: ['MambaForCausalLM'] });
    for (const c of [camel, snake]) {
      expect([c.hiddenSize, c.numHiddenLayers, c.vocabSize, c.intermediateSize]).to.deep.equal([64, 2, 100, 192]);
    }
    expect(snake.extra).to.deep.equal({ architectures: ['MambaForCausalLM'] });
    expect(() => MambaConfig.from({ hiddenSize: 64, vocab_size: 100 })).to.throw(/'hiddenSize' is a camelCase field .* 'vocab_size' a config.json key/);
    expect(() => MambaConfig.from([] as never)).to.throw(/must be a MambaConfig or an object/);
    // the tfjs way of writing layer arguments builds that model (before: a 130m-default one)
    const model = new MambaForCausalLM({ config: { hiddenSize: 16, numHiddenLayers: 1, vocabSize: 40, stateSize: 4 } });
    try {
      expect(model.backbone.embeddings.weight.shape).to.deep.equal([40, 16]);
      expect(model.backbone.blocks.length).to.equal(1);
    } finally {
      model.dispose();
    }
  });

  it("time_step_init_scheme draws dt_proj.weight as HF's _init_weights: uniform in +-std (random), std (constant), else nn.Linear's", () => {
    const dtWeight = (scheme: string) => {
      const model = new MambaForCausalLM({ config: { hiddenSize: 16, numHiddenLayers: 1, vocabSize: 40, stateSize: 4, timeStepInitScheme: scheme, timeStepScale: 2, initializerRange: 0.1 } });
      const values = Array.from(model.backbone.blocks[0].mixer.dtProj.baseVariable!.read().dataSync());
      const rank = model.config.timeStepRank;
      model.dispose();
      return { values, std: rank ** -0.5 * 2 };
    };
    const constant = dtWeight('constant');
    expect(new Set(constant.values)).to.deep.equal(new Set([Math.fround(constant.std)]));
    const random = dtWeight('random');
    expect(random.values.every((v) => Math.abs(v) <= random.std)).to.equal(true);
    expect(new Set(random.values).size).to.be.greaterThan(1);
    // "uniform" (HF's docs name it; its code leaves the module's normal(initializer_range = 0.1) init)
    const uniform = dtWeight('uniform');
    const rms = Math.sqrt(uniform.values.reduce((a, v) => a + v * v, 0) / uniform.values.length);
    expect(rms).to.be.within(0.03, 0.3);
  });
});

