/**
 * Greedy decoding's choice inside the fused decoder's own submission, one workgroup per batch row:
 * the first maximum of the row's logits (FirstArgMax's rule, first_max.ts), written straight into
 * the ids the next step's embedding reads, so the next token is recorded without waiting for this
 * one to be read back. It also applies what generation does per row without the host:
 *   - a row whose logits hold NaN or Inf reports `nonFiniteId` (and feeds id 0: the host stops at the report);
 *   - while `suppressEos` (min_new_tokens not reached), eos ids are never chosen (HF sets them to -inf);
 *   - a row that finished (it emitted an eos id) emits the pad id from then on (HF's generate).
 * Bindings: logits [batch, vocab] f32, finished [batch] i32 (read-write, 1 once a row emitted eos),
 * ids [batch] i32 (the decoder's input), chosen [batch] i32 (what the host reads back).
 */
import { firstMaxDeclarations, firstMaxReduce, firstMaxWalk } from '../first_max.js';
import { computePipeline, declareBindings, type DecodeKernel } from './pipeline.js';

const THREADS = 256;

export interface GreedyChoiceDims {
  batch: number;
  vocab: number;
  eosTokenIds: readonly number[];
  /** What finished rows emit; null: rows never finish (no eos ids). */
  padTokenId: number | null;
  /** Eos ids are not chosen at this token (it comes before min_new_tokens). */
  suppressEos: boolean;
  /** Reported for a row whose logits are not all finite (an id no vocabulary has). */
  nonFiniteId: number;
}

export function greedyChoiceKernel(device: GPUDevice, dims: GreedyChoiceDims): DecodeKernel {
  const { batch, vocab: V, eosTokenIds, padTokenId, suppressEos, nonFiniteId } = dims;
  const isEos = eosTokenIds.length === 0 ? 'false' : eosTokenIds.map((id) => `i == ${id}`).join(' || ');
  const finishes = eosTokenIds.length > 0 && padTokenId != null;
  // A row of whole vec4s is read 4 logits a load (each thread's in increasing order, as the rule needs):
  // a quarter of the loads, one workgroup having the whole row to read.
  const vec = V % 4 === 0;
  /** Takes logit k (value v) into the thread's first maximum. */
  const take = (k: string, v: string) => `
    // All exponent bits set: NaN or Inf (a test on the bits, which no fast-math rule folds away).
    if ((bitcast<u32>(${v}) & 0x7f800000u) == 0x7f800000u) {
      bad = true;
    } else if (${suppressEos ? `!isEos(${k}) && ` : ''}(best == ${V} || ${v} > value)) {
      value = ${v};
      best = ${k};
    }`;
  const code = `
${declareBindings([['logits', vec ? 'vec4<f32>' : 'f32', false], ['finished', 'i32', true], ['ids', 'i32', true], ['chosen', 'i32', true]])}
${firstMaxDeclarations(THREADS, V)}
var<workgroup> nonFinite : atomic<u32>;

fn isEos(i : i32) -> bool { return ${isEos}; }

@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(local_invocation_id) lid : vec3<u32>) {
  let b = i32(wg.x);
  let t = i32(lid.x);
  var value = 0.0;
  var best = ${V};
  var bad = false;
  ${vec ? firstMaxWalk(V / 4, THREADS, 't', (i) => `let v4_${i} = logits[b * ${V / 4} + min(q${i}, ${V / 4 - 1})];`,
    (i) => [0, 1, 2, 3].map((j) => take(`4 * q${i} + ${j}`, `v4_${i}[${j}]`)).join(''))
    : firstMaxWalk(V, THREADS, 't', (i) => `let v${i} = logits[b * ${V} + min(q${i}, ${V - 1})];`, (i) => take(`q${i}`, `v${i}`))}
  if (bad) { atomicOr(&nonFinite, 1u); }
  ${firstMaxReduce(THREADS, 't', 'value', 'best')}
  if (t == 0) {
    if (atomicLoad(&nonFinite) != 0u) {
      chosen[b] = ${nonFiniteId};
      ids[b] = 0;
      return;
    }
    // As FirstArgMax: a row where nothing could be taken gets index 0.
    var id = select(bestIndex[0], 0, bestIndex[0] == ${V});
    // Written out even where nothing finishes: an unused binding would drop out of the 'auto' layout.
    if (${finishes} && finished[b] != 0) { id = ${padTokenId ?? 0}; }
    if (isEos(id)) { finished[b] = 1; }
    chosen[b] = id;
    ids[b] = id;
  }
}`;
  return { pipeline: computePipeline(device, code), grid: [batch, 1] };
}
