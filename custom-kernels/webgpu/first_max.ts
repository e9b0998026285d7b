/**
 * WGSL for a workgroup's first maximum, torch.argmax's rule (the larger value; on ties the smaller
 * index), shared by FirstArgMax and the fused decoder's greedy choice: each thread brings the first
 * maximum of its own share (firstMaxWalk), then a tree over workgroup memory keeps the better of each pair.
 * `none` (the row length) marks a thread that found nothing; it never wins over a real index.
 */

/**
 * Loads a thread makes before it compares any: a loop that loads one at a time waits a round trip
 * to L2 per load, its next load held behind the last comparison (the fused decoder's choice over a
 * 50,280-logit row took 22 us on an H100, 49 loads a thread; bench/results/h200-2026-12-05.md, call 15).
 */
const LOADS_IN_FLIGHT = 8;

/**
 * WGSL walking a row of `count` elements over `threads` threads, thread `t` (an i32) taking t,
 * t + threads, .. in that order (the rule's order within a thread): LOADS_IN_FLIGHT of them loaded
 * (`load(i)`, a statement of the i32 q<i>, which it clamps to the row) before each is taken (`use(i)`).
 */
export function firstMaxWalk(count: number, threads: number, t: string, load: (i: number) => string, use: (i: number) => string): string {
  const loads = Array.from({ length: LOADS_IN_FLIGHT }, (_, i) => i);
  return `for (var q = ${t}; q < ${count}; q += ${threads * LOADS_IN_FLIGHT}) {
    ${loads.map((i) => `let q${i} = q + ${i * threads};`).join(' ')}
    ${loads.map(load).join('\n    ')}
    ${loads.map((i) => `if (q${i} < ${count}) {${use(i)}
    }`).join('\n    ')}
  }`;
}

/** The workgroup arrays and `better`, at module scope. */
export function firstMaxDeclarations(threads: number, none: number): string {
  return `
var<workgroup> bestValue : array<f32, ${threads}>;
var<workgroup> bestIndex : array<i32, ${threads}>;

fn better(v : f32, i : i32, than : f32, j : i32) -> bool {
  return i != ${none} && (j == ${none} || v > than || (v == than && i < j));
}`;
}

/**
 * Statements that reduce each thread's (`value`, `index`) over the workgroup (thread `t`, an i32);
 * afterwards bestValue[0] and bestIndex[0] hold the first maximum (index `none` if no thread found one).
 * Every thread must reach them (they hold barriers).
 */
export function firstMaxReduce(threads: number, t: string, value: string, index: string): string {
  return `
  bestValue[${t}] = ${value};
  bestIndex[${t}] = ${index};
  workgroupBarrier();
  for (var s = ${threads / 2}; s > 0; s = s / 2) {
    if (${t} < s && better(bestValue[${t} + s], bestIndex[${t} + s], bestValue[${t}], bestIndex[${t}])) {
      bestValue[${t}] = bestValue[${t} + s];
      bestIndex[${t}] = bestIndex[${t} + s];
    }
    workgroupBarrier();
  }`;
}
