/**
 * The residual stream and the norm ahead of each mixer, one workgroup per batch row:
 *   first layer: h = embeddings[id];  later: h = h + mixer output of the layer before;
 *   normed = h * rsqrt(mean(h^2) + eps) * weight
 * (the final norm_f is the `add` form with its weight). h stays float32 (residual_in_fp32).
 * Bindings, embed: ids, table, weight, h, normed; add: delta, weight, h, normed.
 */
import { computePipeline, declareBindings, type DecodeKernel } from './pipeline.js';

const THREADS = 256;

export interface RmsNormStepDims {
  batch: number;
  hidden: number;
  eps: number;
  /** Where h comes from: the embedding rows of the ids, or h plus the previous mixer's output. */
  source: 'embed' | 'add';
}

export function rmsNormStepKernel(device: GPUDevice, { batch, hidden, eps, source }: RmsNormStepDims): DecodeKernel {
  const inputs: [string, string, boolean][] = source === 'embed'
    ? [['ids', 'i32', false], ['table', 'f32', false]]
    : [['delta', 'f32', false]];
  const load = source === 'embed' ? `table[u32(ids[b]) * H + i]` : `h[b * H + i] + delta[b * H + i]`;
  const code = `
${declareBindings([...inputs, ['weight', 'f32', false], ['h', 'f32', true], ['normed', 'f32', true]])}
const H = ${hidden}u;
var<workgroup> partial : array<f32, ${THREADS}>;

@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(local_invocation_id) lid : vec3<u32>) {
  let b = wg.x;
  let t = lid.x;
  var sum = 0.0;
  for (var i = t; i < H; i += ${THREADS}u) {
    let v = ${load};
    h[b * H + i] = v;
    sum += v * v;
  }
  partial[t] = sum;
  workgroupBarrier();
  for (var s = ${THREADS / 2}u; s > 0u; s >>= 1u) {
    if (t < s) { partial[t] += partial[t + s]; }
    workgroupBarrier();
  }
  let scale = inverseSqrt(partial[0] / f32(H) + ${eps.toExponential()});
  for (var i = t; i < H; i += ${THREADS}u) {
    normed[b * H + i] = h[b * H + i] * scale * weight[i];
  }
}`;
  return { pipeline: computePipeline(device, code), grid: [batch, 1] };
}
