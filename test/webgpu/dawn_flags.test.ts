/**
 * The flags given to Dawn in Node: toggles from several entries merged into one entry a key (Dawn
 * keeps the last value of a key), NVIDIA's float16 toggle added unless disabled, other flags kept.
 * That Dawn still sees each merged toggle is checked where it matters: the subgroup-matrix suites ask
 * for allow_unsafe_apis through initWebGPU and get the feature only if it arrives.
 */
import { expect } from 'chai';
import { dawnFlags } from '../../src/webgpu/dawn_flags.js';

describe('dawnFlags', () => {
  it('adds vulkan_enable_f16_on_nvidia to no flags', () => {
    expect(dawnFlags([])).to.deep.equal(['enable-dawn-features=vulkan_enable_f16_on_nvidia']);
  });

  it('merges the toggles of several entries into one, each once, and keeps the other flags in order', () => {
    expect(dawnFlags(['backend=vulkan', 'enable-dawn-features=allow_unsafe_apis,disable_robustness',
      'disable-dawn-features=timestamp_quantization', 'enable-dawn-features=allow_unsafe_apis, disable_workgroup_init']))
      .to.deep.equal(['backend=vulkan',
        'enable-dawn-features=allow_unsafe_apis,disable_robustness,disable_workgroup_init,vulkan_enable_f16_on_nvidia',
        'disable-dawn-features=timestamp_quantization']);
  });

  it('leaves the float16 toggle out where the caller disables it', () => {
    expect(dawnFlags(['disable-dawn-features=vulkan_enable_f16_on_nvidia']))
      .to.deep.equal(['disable-dawn-features=vulkan_enable_f16_on_nvidia']);
    expect(dawnFlags(['enable-dawn-features=allow_unsafe_apis', 'disable-dawn-features=vulkan_enable_f16_on_nvidia']))
      .to.deep.equal(['enable-dawn-features=allow_unsafe_apis', 'disable-dawn-features=vulkan_enable_f16_on_nvidia']);
  });
});
