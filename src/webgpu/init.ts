/**
 * Sets up tfjs' `webgpu` backend on a device that this package creates itself: tfjs-backend-webgpu
 * 4.22's own set-up fails on adapters that offer `bgra8unorm-storage` (NVIDIA's) and keeps WebGPU's
 * default limits (8 storage buffers per stage, 128 MiB bindings), too few for long sequences.
 * In Node, the optional `webgpu` package (Dawn) provides `navigator.gpu`.
 */
import * as tf from '@tensorflow/tfjs';
import { noteAdapterInfo, SUBGROUP_MATRIX_FEATURE } from '../../custom-kernels/webgpu/gemm/subgroup_matrix_gemm.js';
import { DAWN_FLAGS_VARIABLE, dawnFlags, environmentDawnFlags } from './dawn_flags.js';
import { withQueueUploads } from './queue_uploads.js';
import { normalizeOptions, type OptionTable, type WithSnakeCase } from '../options/normalize_options.js';

export interface InitWebGPUOptions {
  /** Adapter choice; 'high-performance' picks the discrete GPU where there are several. */
  powerPreference?: GPUPowerPreference;
  /**
   * Flags for Dawn's `create()` in Node, e.g. ['backend=vulkan'] or ['enable-dawn-features=allow_unsafe_apis']
   * (subgroup matrices), joined by those in MAMBA_TFJS_DAWN_FLAGS; `disable_robustness`,
   * `skip_validation` and `vulkan_enable_f16_on_nvidia` are added unless disabled there (dawn_flags.ts).
   */
  dawnFlags?: string[];
}

/** The adapter limits the kernels need raised above WebGPU's defaults. */
const RAISED_LIMITS = [
  'maxStorageBuffersPerShaderStage', 'maxStorageBufferBindingSize', 'maxBufferSize',
  'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
] as const;

/** Features the kernels use where the adapter has them (names older WebGPU typings lack). */
const OPTIONAL_FEATURES = ['timestamp-query', 'subgroups', 'shader-f16', SUBGROUP_MATRIX_FEATURE];

let ready: Promise<void> | null = null;

const INIT_WEBGPU_OPTIONS: OptionTable<InitWebGPUOptions> = { powerPreference: true, dawnFlags: true };

/**
 * Registers and activates the `webgpu` backend; later calls keep the first call's device and activate
 * it again where another backend took over since. Call it before making tensors on webgpu: it
 * replaces a webgpu backend that tfjs already started.
 */
export function initWebGPU(options: WithSnakeCase<InitWebGPUOptions> = {}): Promise<void> {
  let opts: InitWebGPUOptions;
  try {
    opts = normalizeOptions<InitWebGPUOptions>(options, INIT_WEBGPU_OPTIONS, 'initWebGPU');
  } catch (e) {
    return Promise.reject(e);
  }
  ready ??= setUp(opts).catch((err: unknown) => {
    ready = null;   // let a later call retry, e.g. after installing `webgpu`
    throw err;
  });
  // (a page that went to wasm and comes back to webgpu: the set-up is done, its backend is not active)
  return ready.then(async () => {
    if (tf.getBackend() !== 'webgpu' && !(await tf.setBackend('webgpu'))) throw new Error('initWebGPU: the webgpu backend failed to start');
  });
}

/**
 * Whether WebGPU here has a hardware adapter: false without WebGPU, without an adapter, or with only a
 * fallback (software) one such as lavapipe or SwiftShader, where wasm is faster.
 */
export async function hasHardwareAdapter(opts: InitWebGPUOptions = {}): Promise<boolean> {
  try {
    if (globalThis.navigator?.gpu == null) await installNodeWebGPU(opts.dawnFlags ?? []);
    const adapter = await globalThis.navigator.gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
    const info = adapter?.info as (GPUAdapterInfo & { isFallbackAdapter?: boolean }) | undefined;
    const legacy = adapter as (GPUAdapter & { isFallbackAdapter?: boolean }) | null;
    return adapter != null && info?.isFallbackAdapter !== true && legacy?.isFallbackAdapter !== true
      && info?.architecture !== 'software';
  } catch {
    return false;
  }
}

async function setUp(opts: InitWebGPUOptions): Promise<void> {
  if (globalThis.navigator?.gpu == null) await installNodeWebGPU(opts.dawnFlags ?? []);
  const gpu = globalThis.navigator.gpu;
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (adapter == null) throw new Error('initWebGPU: no WebGPU adapter available');
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) requiredLimits[name] = adapter.limits[name];
  // Timestamps let tf.time / tf.profile report GPU time per program; tfjs uses them only while timing.
  // Subgroups speed up the decode matvecs' reductions; shader-f16 is what float16 weights ask for;
  // subgroup matrices (tensor cores; Dawn offers them with `enable-dawn-features=allow_unsafe_apis`)
  // run float16 and int8/int4 prompts' projections.
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  noteAdapterInfo(device, adapter.info);
  // Imported only now: the backend package reads navigator.gpu when it loads.
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu').catch((err: Error) => {
    throw new Error(`initWebGPU needs the optional peer @tensorflow/tfjs-backend-webgpu: ${err.message}`);
  });
  // Replaces the factory that the backend package registers when it loads.
  if ('webgpu' in tf.engine().registryFactory) tf.removeBackend('webgpu');
  const Backend = withQueueUploads(WebGPUBackend);
  tf.registerBackend('webgpu', () => new Backend(device, adapter.info));
  if (!(await tf.setBackend('webgpu'))) throw new Error('initWebGPU: the webgpu backend failed to start');
}

/** Node: Dawn through the optional `webgpu` package, installed as `navigator.gpu`. */
async function installNodeWebGPU(flags: string[]): Promise<void> {
  if (typeof process === 'undefined' || process.versions?.node == null) {
    throw new Error('initWebGPU: this browser has no WebGPU (navigator.gpu is missing)');
  }
  // Dawn's Vulkan loader wants a runtime dir; headless CI containers often have none.
  if (process.env.XDG_RUNTIME_DIR == null) {
    const { tmpdir } = await import('node:os');
    process.env.XDG_RUNTIME_DIR = tmpdir();
  }
  // A variable specifier keeps bundlers from pulling the Node-only package into browser builds.
  const specifier = 'webgpu';
  let dawn: { create(flags: string[]): GPU; globals: object };
  try {
    dawn = await import(specifier) as typeof dawn;
  } catch (err) {
    throw new Error(`initWebGPU: WebGPU in Node needs the optional 'webgpu' package (npm install webgpu): ${
      (err as Error).message}`);
  }
  Object.assign(globalThis, dawn.globals);
  // Node 20 has no navigator; Node 21+ has one without `gpu`.
  const holder = globalThis as unknown as { navigator?: { gpu?: GPU } };
  holder.navigator ??= {};
  holder.navigator.gpu = dawn.create(dawnFlags([...flags, ...environmentDawnFlags(process.env[DAWN_FLAGS_VARIABLE])]));
}
