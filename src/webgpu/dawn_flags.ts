/**
 * The flags this package gives Dawn's `create()` in Node. Dawn keeps one value a key, so the toggles
 * of every `enable-dawn-features=` (and `disable-dawn-features=`) entry are merged into one entry.
 * `vulkan_enable_f16_on_nvidia` is on unless the caller disables it: Dawn withholds `shader-f16` on
 * NVIDIA's Vulkan driver pending a conformance investigation of render paths (crbug.com/42251215;
 * ONNX Runtime's WebGPU provider turns it on too), and without it a float16 model there has neither
 * half arithmetic nor float16 subgroup matrices. Our kernels are compute shaders, and the float16
 * fixture tests check their numerics.
 * `disable_robustness` is on unless the caller disables it: Dawn's robustness (bounds checks on the
 * accesses of storage buffers, in the shader or asked of the driver) cost the 2.8b decoder 7-8 % of a
 * token at batch 1 and 25-28 % at batch 8 on an H100, in two calls (bench/results/h200-2026-12-05.md),
 * and native Dawn programs leave it off (Chrome's Skia Graphite,
 * ONNX Runtime's native WebGPU provider). Our kernels keep their indices in bounds themselves
 * (clamped or guarded at ragged edges, which the kernel tests reach). Browsers keep the checks: no
 * page can turn them off.
 * `skip_validation` is on unless the caller disables it: Dawn validates every command as it is
 * recorded and every buffer a submission uses, which cost a fused decode step of 258 dispatches
 * 2.4-2.7 ms of its 4.5-7.3 ms of host time on this project's 2-core machine, against 0.5-0.7 ms of
 * 2.6-3.3 skipped (the same step, alternate processes); on the GPU host, with validation, the host
 * had bounded float16 decoding (2.90 ms of a 3.12 ms step, bench/results/h200-2026-12-05.md, call 10).
 * Dawn's CI runs its end-to-end tests in this mode,
 * and Dawn turns validation back on after a device loss. An invalid command is then the driver's
 * to catch, not Dawn's: this package's tests keep validation on (test/support/root_hooks.ts), so that
 * every command its kernels and tfjs' record is validated there.
 */
const DEFAULT_TOGGLES = ['disable_robustness', 'skip_validation', 'vulkan_enable_f16_on_nvidia'];
const ENABLE = 'enable-dawn-features=';
const DISABLE = 'disable-dawn-features=';

/**
 * The variable whose flags (whitespace-separated) join the caller's: how the CLI, and scripts that
 * leave initWebGPU to useBackend, reach Dawn, e.g. MAMBA_TFJS_DAWN_FLAGS=enable-dawn-features=allow_unsafe_apis
 * for subgroup matrices (tensor cores) on NVIDIA.
 */
export const DAWN_FLAGS_VARIABLE = 'MAMBA_TFJS_DAWN_FLAGS';

/** The flags in that variable's value. */
export function environmentDawnFlags(value: string | undefined): string[] {
  return (value ?? '').split(/\s+/).filter((f) => f !== '');
}

export function dawnFlags(flags: readonly string[]): string[] {
  const toggles = (prefix: string) => flags.filter((f) => f.startsWith(prefix))
    .flatMap((f) => f.slice(prefix.length).split(',')).map((t) => t.trim()).filter((t) => t !== '');
  const disabled = toggles(DISABLE);
  const enabled = [...new Set([...toggles(ENABLE), ...DEFAULT_TOGGLES.filter((t) => !disabled.includes(t))])];
  const rest = flags.filter((f) => !f.startsWith(ENABLE) && !f.startsWith(DISABLE));
  return [
    ...rest,
    ...(enabled.length > 0 ? [ENABLE + enabled.join(',')] : []),
    ...(disabled.length > 0 ? [DISABLE + [...new Set(disabled)].join(',')] : []),
  ];
}
