/**
 * The fused WebGPU decoder against the op-by-op decode step it replaces: logits and cache states
 * step by step on the tiny fixture and on random models with every optional bias, batch 1 and 3;
 * that it really runs (no tfjs kernels in a step), reads int8/int4 weights packed and float16 halves, follows weight changes
 * and a cache continued by a longer forward pass, gives way to the op-by-op path for adapters, and leaks nothing;
 * the norm of a later layer ahead in the out_proj before it, in in_proj, or a dispatch of its own, as normPlacement says.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs';
import { decodeStep } from '../../src/generation/prefill.js';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { convStepOutput } from '../../custom-kernels/webgpu/decode/conv_step.js';
import { type MatvecDims, matvecTrials } from '../../custom-kernels/webgpu/decode/matvec.js';
import type { MambaMixer } from '../../src/layers/mixer.js';
import { matrixOf, NORM_IN_PROJ_MAX_BATCH, type NormPlacement, normPlacement, WebGPUDecoder, webgpuDecoderFor } from '../../src/model/webgpu_decoder.js';
import { applyLora } from '../../src/lora/apply.js';
import { MambaForCausalLM } from '../../src/model/causal_lm.js';
import { toFloat16 } from '../../src/quantization/float16.js';
import { quantize } from '../../src/quantization/quantize.js';
import { describeBackends, expectNoLeaks } from '../support/backends.js';
import { expectCloseRel } from '../support/compare.js';
import { compareSteps, expectFollowsChanges, stepKernels } from '../support/fused_decode.js';
import { randomModel } from '../support/random_model.js';
import { TINY } from '../support/reference.js';

describeBackends('WebGPU fused decoder', ['webgpu'], () => {
  let tiny: MambaForCausalLM;
  before(async () => {
    tiny = await MambaForCausalLM.fromPretrained(TINY);
  });
  after(() => tiny.dispose());

  // (batch 5: the state step in slices of 2 rows over workgroups, the last of 1: ssmStepLayout)
  for (const batch of [1, 3, 5]) {
    it(`equals the op-by-op step on the tiny fixture, batch ${batch}`, async () => {
      const err = await expectNoLeaks(() => compareSteps(tiny, batch, 6, 10 + batch, webgpuDecoderFor));
      console.log(`      max relative logit error over 6 steps: ${err.toExponential(1)}`);
    });
  }

  const variants: [string, Record<string, unknown>][] = [
    ['with in/out proj biases, without a conv bias', { useBias: true, useConvBias: false }],
    ['a hidden size over the norm\'s 256 threads, conv width 3, dState 1', { hiddenSize: 300, convKernel: 3, stateSize: 1 }],
    ['batch 9 of a 3-layer model with vocab 70,000', { numHiddenLayers: 3, vocabSize: 70_000, hiddenSize: 8 }],
  ];
  variants.forEach(([title, overrides], k) => {
    it(`equals the op-by-op step ${title}`, async () => {
      const model = randomModel(overrides, 100 + k);
      const err = await compareSteps(model, k === 2 ? 9 : 2, 4, 200 + k, webgpuDecoderFor);
      console.log(`      max relative logit error: ${err.toExponential(1)}`);
      model.dispose();
    });
  }, 60_000);

  it('runs a step as one submission of its own: no tfjs kernel in it', async () => {
    const { fused, plain } = await stepKernels(tiny);
    expect(fused).to.deep.equal([]);
    expect(plain.length).to.be.greaterThan(20);
  });

  it('follows weights assigned between steps and a cache continued by a longer forward pass', () => expectFollowsChanges(2, {}));

  it('a state read between steps is the state of that step (the decoder writes it in place; tfjs keeps what a read returned)', async () => {
    const model = randomModel({}, 31);
    const [fusedCache, plainCache] = [model.createCache(2), model.createCache(2)];
    for (let t = 0; t < 3; t++) {
      const ids = [t + 1, t + 5];
      tf.dispose([decodeStep(model, ids, fusedCache), decodeStep(model, ids, plainCache, { fused: false })]);
      for (const i of [0, 1]) {
        expectCloseRel(`step ${t}, ssm state ${i}`, await fusedCache.ssmStates[i].data(), await plainCache.ssmStates[i].data(), 1e-5);
        expectCloseRel(`step ${t}, conv state ${i}`, await fusedCache.convStates[i].data(), await plainCache.convStates[i].data(), 1e-5);
      }
    }
    fusedCache.dispose();
    plainCache.dispose();
    model.dispose();
  });

  for (const [title, swap] of [['toFloat16', (m: MambaForCausalLM) => toFloat16(m)], ['quantize', (m: MambaForCausalLM) => quantize(m, { bits: 8 })]] as const) {
    it(`follows ${title} between steps (its weights replaced under a decoder that has run)`, async () => {
      const model = randomModel({}, 32);
      const [fusedCache, plainCache] = [model.createCache(1), model.createCache(1)];
      tf.dispose([decodeStep(model, [3], fusedCache), decodeStep(model, [3], plainCache, { fused: false })]);
      await swap(model);
      const [fused, plain] = [decodeStep(model, [4], fusedCache), decodeStep(model, [4], plainCache, { fused: false })];
      expectCloseRel('logits after the swap', await fused.data(), await plain.data(), 1e-4);
      tf.dispose([fused, plain]);
      fusedCache.dispose();
      plainCache.dispose();
      model.dispose();
    });
  }

  const quantized: [string, Parameters<typeof quantize>[1]][] = [
    ['int8 weights (asymmetric), int8 embedding rows', { bits: 8, groupSize: 32 }],
    ['int4 weights (symmetric, groups cut short), int4 embedding rows', { bits: 4, groupSize: 32, symmetric: true, embeddingBits: 4 }],
  ];
  quantized.forEach(([title, options], k) => {
    it(`reads ${title} packed, equal to the op-by-op step`, async () => {
      const model = randomModel({ useBias: true, numHiddenLayers: 2 }, 40 + k);
      await quantize(model, options);
      const err = await compareSteps(model, 2, 4, 50 + k, webgpuDecoderFor);
      console.log(`      max relative logit error: ${err.toExponential(1)}`);
      model.dispose();
    });
  });

  it('reads float16 halves (odd widths: hidden 41, dt rank 5), equal to the op-by-op step', async () => {
    const model = randomModel({ useBias: true, hiddenSize: 41, timeStepRank: 5 }, 60);
    await toFloat16(model);
    const err = await expectNoLeaks(() => compareSteps(model, 3, 4, 61, webgpuDecoderFor));
    console.log(`      max relative logit error: ${err.toExponential(1)}`);
    model.dispose();
  });

  type Kind = 'ahead' | 'in_proj' | 'dispatch';
  const kindOf = (placement: NormPlacement): Kind => (typeof placement === 'object' ? 'ahead' : placement);
  const KIND_TITLES: Record<Kind, string> = { ahead: 'ahead, in out_proj', in_proj: 'in in_proj', dispatch: 'a dispatch of its own' };

  /** Where the norm of layer 1 of `model` runs at `batch` (normPlacement over its in_proj and layer 0's out_proj). */
  function placementOf(model: MambaForCausalLM, batch: number): NormPlacement {
    const device = (tf.backend() as WebGPUBackend).device;
    const c = model.config;
    const dims = (p: MambaMixer['inProj'], xRowStride: number): MatvecDims => {
      const [outFeatures, inFeatures] = p.weight.shape;
      return { batch, inFeatures, outFeatures, xRowStride, hasBias: p.bias != null, weight: matrixOf(p.binding())!.source };
    };
    const [first, second] = model.backbone.blocks.map((b) => b.mixer);
    const conv = convStepOutput({ dInner: c.intermediateSize, convKernel: c.convKernel, hasBias: second.conv1d.bias != null });
    return normPlacement(device, dims(second.inProj, c.hiddenSize), conv, dims(first.outProj, c.intermediateSize));
  }

  /**
   * A later layer's norm in `model` at `batch` runs as `kind` (normPlacement), the fused step equals the
   * op-by-op step, and runs `norms` norm dispatches.
   */
  async function expectNorms(model: MambaForCausalLM, batch: number, kind: Kind, norms: number, seed: number): Promise<void> {
    expect(kindOf(placementOf(model, batch)), 'where the norm runs').to.equal(kind);
    const err = await compareSteps(model, batch, 3, seed, webgpuDecoderFor);
    console.log(`      max relative logit error: ${err.toExponential(1)}`);
    const cache = model.createCache(batch);
    const kinds = await webgpuDecoderFor(model, cache)!.timeStep(Array.from({ length: batch }, (_, i) => i));
    expect(kinds.get('norm')?.calls, 'norm dispatches').to.equal(norms);
    cache.dispose();
    model.dispose();
  }

  // The embedding rows' norm and the final one are dispatches at any batch. A later layer's norm (layers
  // 1 and 2 of 3) runs ahead in the out_proj before it at batch 1, in in_proj up to NORM_IN_PROJ_MAX_BATCH
  // where its threads keep few sums, in a dispatch of its own above.
  const placements: [number, Kind, number][] = [[1, 'ahead', 2], [NORM_IN_PROJ_MAX_BATCH, 'in_proj', 2], [NORM_IN_PROJ_MAX_BATCH + 1, 'dispatch', 4]];
  for (const [batch, kind, norms] of placements) {
    it(`float32, batch ${batch}: the norm ${KIND_TITLES[kind]}, equal to the op-by-op step`, async () => {
      await expectNorms(randomModel({ useBias: true, numHiddenLayers: 3 }, 72), batch, kind, norms, 73);
    });
  }

  // Float16 halves at hidden 320: in_proj's threads take 4 rows each, 8 sums at batch 2 (the norm folds)
  // and 16 at batch 4 (matvecFoldsNorm: the norm a dispatch of its own, layer 1's of 2); ahead at batch 1.
  for (const [batch, kind, norms] of [[1, 'ahead', 2], [2, 'in_proj', 2], [4, 'dispatch', 3]] as [number, Kind, number][]) {
    it(`float16 at hidden 320, batch ${batch}: the norm ${KIND_TITLES[kind]}, equal to the op-by-op step`, async () => {
      const model = randomModel({ numHiddenLayers: 2, hiddenSize: 320 }, 74);
      await toFloat16(model);
      await expectNorms(model, batch, kind, norms, 75);
    });
  }

  // int4 codes: ahead at batch 1; above, the norm's own dispatch (matvecFoldsNorm never folds it into int4's in_proj).
  for (const [batch, kind, norms] of [[1, 'ahead', 2], [2, 'dispatch', 4]] as [number, Kind, number][]) {
    it(`int4 at batch ${batch}: the norm ${KIND_TITLES[kind]}, equal to the op-by-op step`, async () => {
      const model = randomModel({ numHiddenLayers: 3, hiddenSize: 64 }, 76);
      await quantize(model, { bits: 4, groupSize: 32 });
      await expectNorms(model, batch, kind, norms, 77);
    });
  }

  /** The code of every shader compiled while `run` runs with the matvec trials `trials` on. */
  async function compiledUnder(trials: (keyof typeof matvecTrials)[], run: () => Promise<void>): Promise<string[]> {
    const device = (tf.backend() as WebGPUBackend).device;
    const make = device.createShaderModule.bind(device);
    const codes: string[] = [];
    device.createShaderModule = (d: GPUShaderModuleDescriptor) => { codes.push(d.code); return make(d); };
    for (const trial of trials) matvecTrials[trial] = true;
    try {
      await run();
    } finally {
      for (const trial of trials) matvecTrials[trial] = false;
      device.createShaderModule = make;
    }
    return codes;
  }

  // int4 at hidden 320: in_proj's threads take 4 rows each over rows of 40 words, read as units of
  // one or two words at batch 1 (narrowLayout), x copied into workgroup memory under the trial
  // xShared, or 2 rows and 2 row groups under halfRows (each kernel's text caught on its way to the compiler)
  const int4Layouts: [string, (keyof typeof matvecTrials)[], RegExp][] = [
    ['units of one or two words', [], /bitcast<(u32|vec2<u32>)>\(packed\[/],
    ['x copied into workgroup memory (the trial xShared)', ['xShared'], /var<workgroup> xs/],
    ['2 rows a thread and 2 row groups (the trial halfRows)', ['halfRows'], /const R = 2u;\s*const RT = 2u;/],
    ['the conv step\'s loads ahead of the products (the trial convAhead)', ['convAhead'], /var<private> heldWindow0 : f32;/],
    ['the conv step\'s loads ahead, made after the products (the trials convAhead and aheadLate)', ['convAhead', 'aheadLate'], /var acc : array<f32, Q>;[^]*ahead\(t % Q % B, row\)/],
  ];
  for (const [title, trials, mark] of int4Layouts) {
    it(`int4 at hidden 320, batch 1, ${title}: equal to the op-by-op step`, async () => {
      const codes = await compiledUnder(trials, async () => {
        const model = randomModel({ numHiddenLayers: 2, hiddenSize: 320 }, 78);
        await quantize(model, { bits: 4, groupSize: 32 });
        await expectNorms(model, 1, 'ahead', 2, 79);
      });
      expect(codes.some((c) => mark.test(c)), `a kernel with ${title}`).to.equal(true);
    });
  }

  // The conv step's window, weights and bias loaded ahead of in_proj's products (the trial convAhead),
  // or after them (with aheadLate, out_proj's h and gamma too): the window shifts as before over the
  // steps, with and without a conv bias, conv width 3, batch 1 and 3 (each kernel's text caught).
  const aheadCases: [string, Record<string, unknown>, number, (keyof typeof matvecTrials)[], RegExp][] = [
    ['float32 with every bias, batch 1, the conv step\'s loads ahead of the products (the trial convAhead)', { useBias: true }, 1, ['convAhead'], /var<private> heldWindow0 : f32;/],
    ['float32 without a conv bias, conv width 3, batch 3, the conv step\'s loads ahead (the trial convAhead)', { useConvBias: false, convKernel: 3 }, 3, ['convAhead'], /var<private> heldWindow0 : f32;/],
    ['float32 with every bias, batch 2, the output stages\' loads after the products (the trials convAhead and aheadLate)', { useBias: true }, 2,
      ['convAhead', 'aheadLate'], /var acc : array<f32, Q>;[^]*ahead\(t % Q % B, row\)/],
  ];
  aheadCases.forEach(([title, overrides, batch, trials, mark], k) => {
    it(`${title}: equal to the op-by-op step`, async () => {
      const codes = await compiledUnder(trials, async () => {
        const model = randomModel(overrides, 90 + k);
        const err = await expectNoLeaks(() => compareSteps(model, batch, 5, 95 + k, webgpuDecoderFor));
        console.log(`      max relative logit error over 5 steps: ${err.toExponential(1)}`);
        model.dispose();
      });
      expect(codes.some((c) => mark.test(c)), `a kernel with ${trials.join(' and ')}`).to.equal(true);
    });
  });

  // Without a trial, only halves at batch 1 load the conv step's inputs ahead (convLoadsAhead).
  for (const [title, weights, batch, ahead] of [['float16, batch 1', 'float16', 1, true], ['float16, batch 2', 'float16', 2, false],
    ['float32, batch 1', 'float32', 1, false], ['int4, batch 1', 'int4', 1, false]] as [string, string, number, boolean][]) {
    it(`${title}: the conv step's inputs ${ahead ? '' : 'not '}loaded ahead of in_proj's products, equal to the op-by-op step`, async () => {
      const codes = await compiledUnder([], async () => {
        // (a width no other test decodes: the pipelines, cached by their code, are compiled here)
        const model = randomModel({ numHiddenLayers: 2, hiddenSize: 88 }, 84);
        if (weights === 'float16') await toFloat16(model);
        if (weights === 'int4') await quantize(model, { bits: 4, groupSize: 32 });
        const err = await compareSteps(model, batch, 3, 85, webgpuDecoderFor);
        console.log(`      max relative logit error: ${err.toExponential(1)}`);
        model.dispose();
      });
      expect(codes.some((c) => /fn convStep\(/.test(c)), 'an in_proj with the conv step compiled').to.equal(true);
      expect(codes.some((c) => /var<private> heldWindow0 : f32;/.test(c)), 'a kernel with the conv step loaded ahead').to.equal(ahead);
    });
  }

  it('leaves adapters to the op-by-op path', async () => {
    const lora = randomModel({}, 11);
    applyLora(lora, { r: 2, alpha: 4, targetModules: ['x_proj'] });
    const cache = lora.backbone.createCache(1);
    expect(WebGPUDecoder.supports(lora, cache)).to.equal(false);
    expect(webgpuDecoderFor(lora, cache)).to.equal(null);
    cache.dispose();
    lora.dispose();
  });

  it('rejects ids out of range, a batch or a cache not made for the model, and a disposed model', async () => {
    const cache = tiny.backbone.createCache(2);
    const V = tiny.config.vocabSize;
    expect(() => decodeStep(tiny, [0, V], cache)).to.throw(RangeError, `input id ${V} at row 1`);
    expect(() => decodeStep(tiny, [0, 1.5], cache)).to.throw(RangeError, 'input id 1.5');
    expect(() => decodeStep(tiny, [0], cache)).to.throw(/batch 2, got 1 ids/);
    cache.dispose();
    expect(() => decodeStep(tiny, [0, 1], cache)).to.throw(/disposed/);
    const other = randomModel({}, 13);
    const foreign = other.backbone.createCache(1);
    decodeStep(other, [0], foreign).dispose();   // the cache holds other's decoder
    expect(() => decodeStep(tiny, [0], foreign)).to.throw("the cache was made for another model: its intermediateSize is 80, the model's 64");
    decodeStep(other, [1], foreign).dispose();   // and its own model still decodes it
    const own = other.backbone.createCache(1);
    decodeStep(other, [0], own).dispose();
    other.dispose();
    expect(() => decodeStep(other, [0], own)).to.throw(/LayersVariable backbone\.\S+ is already disposed/);
    foreign.dispose();
    own.dispose();
  });
});
