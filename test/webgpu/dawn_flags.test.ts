/**
 * The flags given to Dawn in Node: toggles from several entries merged into one entry a key (Dawn
 * keeps the last value of a key), NVIDIA's float16 toggle added unless disabled, other flags kept.
 * That Dawn still sees each merged toggle is checked where it matters: the subgroup-matrix suites ask
 * for allow_unsafe_apis through initWebGPU and get the feature only if it arrives. The suites run
 * with Dawn's validation on (test/support/root_hooks.ts); one child here runs greedy generation with
 * the defaults users get, validation skipped.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SUBGROUP_MATRIX_FEATURE } from '../../custom-kernels/webgpu/gemm/subgroup_matrix_gemm.js';
import { DAWN_FLAGS_VARIABLE, dawnFlags, environmentDawnFlags } from '../../src/webgpu/dawn_flags.js';
import { childFailure, runChild } from '../support/run_child.js';
import { COOPMAT_NODE, UNSAFE_APIS } from '../support/subgroup_matrices.js';
import { ref } from '../support/reference.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('dawnFlags', () => {
  it('adds disable_robustness, skip_validation and vulkan_enable_f16_on_nvidia to no flags', () => {
    expect(dawnFlags([])).to.deep.equal(['enable-dawn-features=disable_robustness,skip_validation,vulkan_enable_f16_on_nvidia']);
  });

  it('merges the toggles of several entries into one, each once, and keeps the other flags in order', () => {
    expect(dawnFlags(['backend=vulkan', 'enable-dawn-features=allow_unsafe_apis,disable_robustness',
      'disable-dawn-features=timestamp_quantization', 'enable-dawn-features=allow_unsafe_apis, disable_workgroup_init']))
      .to.deep.equal(['backend=vulkan',
        'enable-dawn-features=allow_unsafe_apis,disable_robustness,disable_workgroup_init,skip_validation,vulkan_enable_f16_on_nvidia',
        'disable-dawn-features=timestamp_quantization']);
  });

  it('reads MAMBA_TFJS_DAWN_FLAGS as whitespace-separated flags, which merge with the caller\'s', () => {
    expect(environmentDawnFlags(undefined)).to.deep.equal([]);
    expect(environmentDawnFlags('  ')).to.deep.equal([]);
    const env = environmentDawnFlags(' enable-dawn-features=allow_unsafe_apis\tbackend=vulkan\n');
    expect(env).to.deep.equal(['enable-dawn-features=allow_unsafe_apis', 'backend=vulkan']);
    expect(dawnFlags(['enable-dawn-features=disable_robustness', ...env])).to.deep.equal(['backend=vulkan',
      'enable-dawn-features=disable_robustness,allow_unsafe_apis,skip_validation,vulkan_enable_f16_on_nvidia']);
  });

  it('leaves a default toggle out where the caller disables it', () => {
    expect(dawnFlags(['disable-dawn-features=vulkan_enable_f16_on_nvidia']))
      .to.deep.equal(['enable-dawn-features=disable_robustness,skip_validation', 'disable-dawn-features=vulkan_enable_f16_on_nvidia']);
    expect(dawnFlags(['enable-dawn-features=allow_unsafe_apis', 'disable-dawn-features=vulkan_enable_f16_on_nvidia,disable_robustness,skip_validation']))
      .to.deep.equal(['enable-dawn-features=allow_unsafe_apis', 'disable-dawn-features=vulkan_enable_f16_on_nvidia,disable_robustness,skip_validation']);
  });

  it(`${DAWN_FLAGS_VARIABLE} reaches Dawn: over Mesa 26's lavapipe initWebGPU() gets subgroup matrices with allow_unsafe_apis there, none without`, async function () {
    this.timeout(180_000);
    if (!existsSync(COOPMAT_NODE)) expect.fail(`${COOPMAT_NODE} is missing: scripts/install-coopmat-lavapipe.sh installs it`);
    const script = `import * as tf from '@tensorflow/tfjs';
import { initWebGPU } from './src/webgpu/init.ts';
await initWebGPU();
console.log('subgroup matrices: ' + tf.backend().device.features.has('${SUBGROUP_MATRIX_FEATURE}'));`;
    for (const [value, offered] of [[UNSAFE_APIS, true], [undefined, false]] as const) {
      const env = { ...process.env };
      delete env[DAWN_FLAGS_VARIABLE];
      if (value != null) env[DAWN_FLAGS_VARIABLE] = value;
      const child = await runChild(COOPMAT_NODE, ['--import', 'tsx', '--input-type=module', '-e', script], ROOT, { env, timeoutMs: 150_000 });
      expect(child.code, childFailure(child)).to.equal(0);
      expect(child.stdout, `with ${DAWN_FLAGS_VARIABLE}=${value}`).to.include(`subgroup matrices: ${offered}`);
    }
  });

  it('with the defaults users get (Dawn\'s validation skipped, which the suites keep on), greedy generate on webgpu gives HF\'s ids', async function () {
    this.timeout(180_000);
    const script = `import { initWebGPU } from './src/webgpu/init.ts';
import { MambaForCausalLM } from './src/model/causal_lm.ts';
import { refIds, TINY } from './test/support/reference.ts';
await initWebGPU();
const model = await MambaForCausalLM.fromPretrained(TINY);
console.log('ids ' + JSON.stringify(await model.generate(refIds('generate.prompt_ids'), { maxNewTokens: 12 })));`;
    const env = { ...process.env };
    delete env[DAWN_FLAGS_VARIABLE];
    const child = await runChild(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], ROOT, { env, timeoutMs: 150_000 });
    expect(child.code, childFailure(child)).to.equal(0);
    const { values, shape: [rows, length] } = ref('generate.output_ids');
    const hf = Array.from({ length: rows }, (_, i) => Array.from(values.subarray(i * length, (i + 1) * length)));
    expect(child.stdout).to.include(`ids ${JSON.stringify(hf)}`);
  });
});
