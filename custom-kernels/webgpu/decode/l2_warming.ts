/**
 * Warming the GPU's L2 cache with a weight a later dispatch streams, from a dispatch that leaves the
 * memory idle. At 2.8b, x_proj and the state step take 5-7 us each, bound by latency (a few MB read
 * between dependent dispatches), while out_proj, two dispatches on, streams 26 MB (float16) or 52 MB
 * (float32) from memory; an H100 or H200 holds 50 MB in L2.
 * The dispatch gets warmingGroups() workgroups past its own; each of their threads loads one word of
 * every SECTOR_BYTES of its share of the binding `warm`'s bytes [firstByte, firstByte + bytes), all
 * LOADS loads issued before any is used. Their XOR decides a store that does not happen in practice
 * (the XOR equal to a constant) into `sink`, a spare word of a buffer the dispatch writes anyway: no
 * compiler may drop the loads, and Dawn adds no barrier (the dispatch only reads `warm`, as out_proj
 * does), so the warming runs beside the dispatch's own workgroups.
 */

/** Bytes a load brings from memory into L2 at least (NVIDIA's sector). */
const SECTOR_BYTES = 32;
/** Loads a thread issues before using any. */
const LOADS = 8;

/** What a dispatch warms: bytes of `warm` from firstByte (both multiples of 4). */
export interface L2Warming {
  firstByte: number;
  bytes: number;
}

/** The warmed buffer's binding, declared after the dispatch's own. */
export const WARM_BINDING: [string, string, boolean] = ['warm', 'u32', false];

/** The workgroups of `threads` threads that warm `w`. */
export function warmingGroups(w: L2Warming, threads: number): number {
  return Math.ceil(w.bytes / (SECTOR_BYTES * LOADS * threads));
}

/**
 * WGSL for the top of a kernel's main whose workgroups past `ownGroups` warm `w`: `groupIndex` its
 * workgroup index, `t` its local invocation index (u32) in workgroups of `threads`, `sink` an f32
 * lvalue nobody reads. Those workgroups return after it (uniformly: the branch is on the workgroup).
 */
export function warmingCode(w: L2Warming, ownGroups: number, threads: number, groupIndex: string, sink: string): string {
  if (w.bytes <= 0 || w.firstByte % 4 !== 0 || w.bytes % 4 !== 0) {
    throw new Error(`L2 warming: ${w.bytes} bytes from byte ${w.firstByte} is not a positive run of whole words`);
  }
  const stride = SECTOR_BYTES / 4;   // words a load stands for
  const first = w.firstByte / 4;
  const last = first + w.bytes / 4 - 1;
  const loads = Array.from({ length: LOADS }, (_, i) => `warm[min(at + ${i * threads * stride}u, ${last}u)]`);
  return `  if (${groupIndex} >= ${ownGroups}u) {
    let at = ${first}u + (${groupIndex} - ${ownGroups}u) * ${LOADS * threads * stride}u + t * ${stride}u;
    let seen = ${loads.join(' ^ ')};
    if (seen == 0x9e3779b9u) { ${sink} = bitcast<f32>(seen); }
    return;
  }`;
}
