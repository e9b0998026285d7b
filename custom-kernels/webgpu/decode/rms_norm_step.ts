/**
 * The residual stream and the norm ahead of each mixer, one workgroup per batch row:
 *   first layer: h = embeddings[id] (NaN for an id outside the table, as the op path's
 *   idsOutOfRangeToNaN);  later: h = h + mixer output of the layer before;
 *   normed = h * rsqrt(mean(h^2) + eps) * gamma (the norm's weight)
 * (the final norm_f is the `add` form with its weight). h stays float32 (residual_in_fp32).
 * Bindings, embed: ids, the table's (weight_source.ts), gamma, h, normed; add: delta, gamma, h, normed.
 * `batch` only sizes the grid: the fused prefill runs it over batch x sequence rows.
 */
import { computePipeline, declareBindings, type DecodeKernel } from './pipeline.js';
import { weightBindings, weightFunction, type WeightSource } from './weight_source.js';

const THREADS = 256;

export interface RmsNormStepDims {
  batch: number;
  hidden: number;
  eps: number;
  /** Where h comes from: the embedding rows of the ids (a table of `vocab` rows stored as `embed`), or h plus the previous mixer's output. */
  source: { embed: WeightSource; vocab: number } | 'add';
}

export function rmsNormStepKernel(device: GPUDevice, { batch, hidden, eps, source }: RmsNormStepDims): DecodeKernel {
  const inputs: [string, string, boolean][] = source === 'add'
    ? [['delta', 'f32', false]]
    : [['ids', 'i32', false], ...weightBindings(source.embed)];
  const load = source === 'add' ? `h[b * H + i] + delta[b * H + i]` : `embedAt(ids[b], i)`;
  // NaN from a private's bits at run time: a constant NaN is a shader-creation error.
  const embedAt = source === 'add' ? '' : `var<private> nanBits : u32 = 0x7fc00000u;
fn embedAt(id : i32, i : u32) -> f32 {
  if (id < 0 || id >= ${source.vocab}) { return bitcast<f32>(nanBits); }
  return weight(id, i32(i));
}`;
  const code = `
${declareBindings([...inputs, ['gamma', 'f32', false], ['h', 'f32', true], ['normed', 'f32', true]])}
${source === 'add' ? '' : weightFunction(source.embed, hidden)}
${embedAt}
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
    normed[b * H + i] = h[b * H + i] * scale * gamma[i];
  }
}`;
  return { pipeline: computePipeline(device, code), grid: [batch, 1] };
}
