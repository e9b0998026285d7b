/**
 * The residual stream and the norm ahead of each mixer, one workgroup per batch row:
 *   first layer: h = embeddings[id] (NaN for an id outside the table, as the op path's
 *   idsOutOfRangeToNaN);  later: h = h + mixer output of the layer before, or h as it is where
 *   out_proj added its output itself (the decoder's `residual`);
 *   normed = h * rsqrt(mean(h^2) + eps) * gamma (the norm's weight)
 * (the final norm_f is one of these forms with its weight). h stays float32 (residual_in_fp32).
 * The mixer output may come as the parts of out_proj's split K (gemm/gemm.ts' slabs, each of the
 * grid's rows x hidden) and its bias, which the norm adds: the fused prefill then runs no reduction of
 * its own for out_proj.
 * Bindings, embed: ids, the table's (weight_source.ts), gamma, h, normed; add: delta, gamma, h, normed;
 * residual: gamma, h, normed; parts: delta (the slabs), bias?, gamma, h, normed.
 * `batch` only sizes the grid: the fused prefill runs it over batch x sequence rows.
 */
import { computePipeline, declareBindings, type DecodeKernel, range } from './pipeline.js';
import { weightBindings, weightFunction, type WeightSource } from './weight_source.js';

const THREADS = 256;

export interface RmsNormStepDims {
  batch: number;
  hidden: number;
  eps: number;
  /**
   * Where h comes from: the embedding rows of the ids (a table of `vocab` rows stored as `embed`), h
   * plus the previous mixer's output, or h plus the sum of its `parts` split-K slabs (and a bias).
   */
  source: { embed: WeightSource; vocab: number } | 'add' | 'residual' | { parts: number; bias: boolean };
}

/** The bindings before gamma, the WGSL helpers and the expression of h at row b, column i, for `source`. */
function sourceCode(source: RmsNormStepDims['source'], hidden: number): { inputs: [string, string, boolean][]; helpers: string; load: string } {
  if (source === 'add') return { inputs: [['delta', 'f32', false]], helpers: '', load: 'h[b * H + i] + delta[b * H + i]' };
  if (source === 'residual') return { inputs: [], helpers: '', load: 'h[b * H + i]' };
  if ('parts' in source) {
    const { parts, bias } = source;
    if (!Number.isInteger(parts) || parts < 1) throw new Error(`rmsNormStep: parts ${parts} is not a positive integer`);
    // summed as gemmReduceKernel sums them: the slabs in order, then the bias
    return {
      inputs: [['delta', 'f32', false], ...(bias ? [['bias', 'f32', false] as [string, string, boolean]] : [])],
      helpers: `fn mixerOut(b : u32, i : u32, rows : u32) -> f32 {
  var v = delta[b * H + i];
  for (var p = 1u; p < ${parts}u; p++) { v += delta[p * rows * H + b * H + i]; }
  return v${bias ? ' + bias[i]' : ''};
}`,
      load: 'h[b * H + i] + mixerOut(b, i, groups.x)',
    };
  }
  return {
    inputs: [['ids', 'i32', false], ...weightBindings(source.embed)],
    // NaN from a private's bits at run time: a constant NaN is a shader-creation error.
    helpers: `${weightFunction(source.embed, hidden)}
var<private> nanBits : u32 = 0x7fc00000u;
fn embedAt(id : i32, i : u32) -> f32 {
  if (id < 0 || id >= ${source.vocab}) { return bitcast<f32>(nanBits); }
  return weight(id, i32(i));
}`,
    load: 'embedAt(ids[b], i)',
  };
}

/** Elements a thread takes up to which its loads are written out, all in flight at once (a loop above). */
const UNROLLED = 16;

export function rmsNormStepKernel(device: GPUDevice, { batch, hidden, eps, source }: RmsNormStepDims): DecodeKernel {
  const { inputs, helpers, load } = sourceCode(source, hidden);
  // h is written where it changes (not for `residual`, which reads it as it is)
  const keep = (v: string, i: string) => (source === 'residual' ? '' : `h[b * H + ${i}] = ${v}; `);
  const perThread = Math.ceil(hidden / THREADS);
  // A loop's next load waits for the last one's sum on some drivers: where the count allows, a thread's
  // elements are written out, loaded at clamped columns and kept in registers for the second pass.
  const at = (c: number) => `t + ${c * THREADS}u`;
  // (gamma too, ahead of the reduction: loaded after its barriers, it waited a round trip of its own)
  const body = perThread <= UNROLLED ? `${range(perThread).map((c) => `  let i${c} = min(${at(c)}, H - 1u);
  let v${c} = ${load.replaceAll(/\bi\b/g, `i${c}`)};
  let g${c} = gamma[i${c}];`).join('\n')}
  var sum = 0.0;
${range(perThread).map((c) => `  if (${at(c)} < H) { ${keep(`v${c}`, `i${c}`)}sum += v${c} * v${c}; }`).join('\n')}
  ${reduction(eps)}
${range(perThread).map((c) => `  if (${at(c)} < H) { normed[b * H + i${c}] = v${c} * scale * g${c}; }`).join('\n')}`
    : `  var sum = 0.0;
  for (var i = t; i < H; i += ${THREADS}u) {
    let v = ${load};
    ${keep('v', 'i')}sum += v * v;
  }
  ${reduction(eps)}
  for (var i = t; i < H; i += ${THREADS}u) {
    normed[b * H + i] = h[b * H + i] * scale * gamma[i];
  }`;
  const code = `
${declareBindings([...inputs, ['gamma', 'f32', false], ['h', 'f32', true], ['normed', 'f32', true]])}
const H = ${hidden}u;
${helpers}
var<workgroup> partial : array<f32, ${THREADS}>;

@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(num_workgroups) groups : vec3<u32>, @builtin(local_invocation_id) lid : vec3<u32>) {
  let b = wg.x;
  let t = lid.x;
${body}
}`;
  return { pipeline: computePipeline(device, code), grid: [batch, 1] };
}

/** The workgroup's sum of `sum` and the row's `scale` from it. */
function reduction(eps: number): string {
  return `partial[t] = sum;
  workgroupBarrier();
  for (var s = ${THREADS / 2}u; s > 0u; s >>= 1u) {
    if (t < s) { partial[t] += partial[t + s]; }
    workgroupBarrier();
  }
  let scale = inverseSqrt(partial[0] / f32(H) + ${eps.toExponential()});`;
}
