/**
 * Set-up shared by the GPU benchmarks: the webgpu backend with Dawn flags from BENCH_DAWN_FLAGS
 * (whitespace-separated, as MAMBA_TFJS_DAWN_FLAGS, e.g. `enable-dawn-features=allow_unsafe_apis,disable_robustness`
 * to time what Dawn's checks cost), and random weights made on the device: tfjs' initializers draw every value
 * in JS, minutes for a 2.8b model. Speed does not depend on the values; the device's draws keep the
 * initializers' mean and spread (uniform, from a hash of the index). BENCH_INIT=js keeps tfjs' own.
 * BENCH_MATVEC_TRIALS (comma-separated names of matvecTrials, e.g. decodeInline,halfCast) turns
 * the decode matvec's trial switches on, to time a trial end to end beside a run without it;
 * BENCH_SSM_LAYOUT (JSON, e.g. `{"slices":4}`) gives the decoder's state step a layout (SsmStepDims.layout).
 */
import * as tf from '@tensorflow/tfjs';
import { matvecTrials } from '../../custom-kernels/webgpu/decode/matvec.js';
import { ssmStepTuning } from '../../custom-kernels/webgpu/decode/ssm_step.js';
import { environmentDawnFlags } from '../../src/webgpu/dawn_flags.js';
import { initWebGPU } from '../../src/webgpu/init.js';

type MatvecTrial = keyof typeof matvecTrials;

export async function setUpWebGPU(): Promise<void> {
  await initWebGPU({ dawnFlags: environmentDawnFlags(process.env.BENCH_DAWN_FLAGS) });
  if (process.env.BENCH_INIT !== 'js') drawWeightsOnDevice();
  const names = matvecTrialNames(process.env.BENCH_MATVEC_TRIALS ?? '', ',', 'BENCH_MATVEC_TRIALS');
  setMatvecTrials(names);
  for (const name of names) console.log(`matvec trial on: ${name}`);
  if (process.env.BENCH_SSM_LAYOUT != null) {
    ssmStepTuning.layout = JSON.parse(process.env.BENCH_SSM_LAYOUT) as typeof ssmStepTuning.layout;
    console.log(`ssm step layout: ${JSON.stringify(ssmStepTuning.layout)}`);
  }
}

/** The matvec trial switches `list` names, split at `separator`; an unknown name is an error naming `variable`. */
export function matvecTrialNames(list: string, separator: string, variable: string): MatvecTrial[] {
  const names = list.split(separator).filter((n) => n !== '');
  for (const name of names) {
    if (!(name in matvecTrials)) throw new Error(`${variable}: ${name} is not one of ${Object.keys(matvecTrials).join(', ')}`);
  }
  return names as MatvecTrial[];
}

/** Turns the switches `names` on (kernels made after take them); the returned function puts every switch back as it was. */
export function setMatvecTrials(names: MatvecTrial[]): () => void {
  const before = { ...matvecTrials };
  for (const name of names) matvecTrials[name] = true;
  return () => { Object.assign(matvecTrials, before); };
}

const WRAP = 1 << 20;
let wrappedIndices: tf.Tensor1D | null = null;

/** 0 .. WRAP - 1 as float32, made once. */
function indices(): tf.Tensor1D {
  return wrappedIndices ??= tf.keep(tf.range(0, WRAP, 1, 'float32'));
}

/** Uniform in [lo, hi) for each of `shape`'s elements: fract(sin(i * a + seed) * b), the usual shader hash. */
function deviceUniform(shape: number[], lo: number, hi: number, seed: number): tf.Tensor {
  return tf.tidy(() => {
    const n = shape.reduce((a, b) => a * b, 1);
    // the index wraps every 2^20 so that float32 keeps its low digits; tiled on the device from one
    // range made once (tfjs-webgpu makes a range in JS: ~35 s of a 2.8b model's set-up on the H100's host)
    const i = n <= WRAP ? indices().slice(0, n) : tf.tile(indices(), [Math.ceil(n / WRAP)]).slice(0, n);
    const s = tf.sin(i.mul(12.9898).add(seed)).mul(43758.5453);
    return s.sub(s.floor()).mul(hi - lo).add(lo).reshape(shape);
  });
}

let seeds = 0;

function drawWeightsOnDevice(): void {
  type Init = { apply(shape: number[], dtype?: tf.DataType): tf.Tensor };
  const normal = Object.getPrototypeOf(tf.initializers.randomNormal({})) as Init;
  const uniform = Object.getPrototypeOf(tf.initializers.randomUniform({})) as Init;
  normal.apply = function apply(this: { mean: number; stddev: number }, shape: number[]) {
    const half = this.stddev * Math.sqrt(3);   // a uniform's spread with the normal's standard deviation
    return deviceUniform(shape, this.mean - half, this.mean + half, (seeds += 1.7));
  };
  uniform.apply = function apply(this: { minval: number; maxval: number }, shape: number[]) {
    return deviceUniform(shape, this.minval, this.maxval, (seeds += 1.7));
  };
}
