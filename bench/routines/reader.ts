/**
 * A kernel that only reads: each workgroup takes a contiguous span of a buffer of vec4<u32> (16
 * bytes a load, as the decode matvecs load), each thread `unitsInFlight` loads issued before any is
 * used, `sweeps` times, and sums the words. It stands in for a decoder dispatch that did nothing but
 * read its weights (bench/roofline.ts): what the memory and the dispatches cost without the math.
 * Like the decoder's kernels it first reads what the dispatch before left (`sink[0]`) and binds
 * `sink` read-write, so that consecutive dispatches wait on each other as the decoder's do.
 * Checked, each thread writes its sum to sink[1 + its global index] (the test adds them up against the
 * buffer's sum); timed, a sum is written only if it equals a constant, which keeps every load.
 */
import { grid, GROUP_INDEX, range } from '../../custom-kernels/webgpu/decode/pipeline.js';

export interface ReaderLayout {
  threads: number;
  unitsInFlight: number;
  sweeps: number;
}

/** The layouts bench/roofline.ts times for each size: threads a workgroup x units in flight x sweeps. */
export const READER_LAYOUTS: ReaderLayout[] = [32, 64, 128, 256].flatMap((threads) => [2, 4, 8, 16].flatMap((unitsInFlight) =>
  [1, 2, 4, 8].map((sweeps) => ({ threads, unitsInFlight, sweeps }))));

export function layoutName({ threads, unitsInFlight, sweeps }: ReaderLayout): string {
  return `${threads}x${unitsInFlight}x${sweeps}`;
}

/** 16-byte units of a read of `bytes` (the buffer's size: whole units). */
export function readerUnits(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / 16));
}

/** Workgroups of a read of `units` in `layout`. */
export function readerGrid(units: number, { threads, unitsInFlight, sweeps }: ReaderLayout): [number, number] {
  return grid(Math.ceil(units / (threads * unitsInFlight * sweeps)));
}

/** Sink words a checked read of `units` writes (sink[0], then one a thread). */
export function readerSinkWords(units: number, layout: ReaderLayout): number {
  const [x, y] = readerGrid(units, layout);
  return 1 + x * y * layout.threads;
}

/** WGSL of a read of `units` units of binding 0 in `layout`; sink is binding 1. */
export function readerSource(units: number, { threads, unitsInFlight, sweeps }: ReaderLayout, checked: boolean): string {
  const sweep = threads * unitsInFlight;
  const loads = range(unitsInFlight);
  return `
@group(0) @binding(0) var<storage, read> m : array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> sink : array<u32>;
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(local_invocation_index) t : u32) {
  let g = ${GROUP_INDEX};
  let first = g * ${sweep * sweeps}u + t;
  var acc = sink[0];
  for (var s = 0u; s < ${sweeps}u; s++) {
    let at = first + s * ${sweep}u;
    ${loads.map((u) => `let v${u} = m[min(at + ${u * threads}u, ${units - 1}u)];`).join('\n    ')}
    ${loads.map((u) => `acc += select(0u, v${u}.x + v${u}.y + v${u}.z + v${u}.w, at + ${u * threads}u < ${units}u);`).join('\n    ')}
  }
  ${checked ? `sink[1u + g * ${threads}u + t] = acc;` : 'if (acc == 0x9e3779b9u) { sink[1] = acc; }'}
}`;
}

/** WGSL filling binding 0's `units` units with a hash of their index (a read of zeros might be cheaper than one of weights). */
export function fillSource(units: number): string {
  return `
@group(0) @binding(0) var<storage, read_write> m : array<vec4<u32>>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(local_invocation_index) t : u32) {
  let i = ${GROUP_INDEX} * 256u + t;
  if (i < ${units}u) {
    let h = (i ^ 0x5bd1e995u) * 0x27d4eb2du;
    m[i] = vec4<u32>(h, h ^ (h >> 15u), h * 0x165667b1u, h + 0x9e3779b9u);
  }
}`;
}

/** Workgroups of a fill of `units`. */
export function fillGrid(units: number): [number, number] {
  return grid(Math.ceil(units / 256));
}
