/**
 * WGSL for a workgroup's first maximum, torch.argmax's rule (the larger value; on ties the smaller
 * index), shared by FirstArgMax and the fused decoder's greedy choice: each thread brings the first
 * maximum of its own share, then a tree over workgroup memory keeps the better of each pair.
 * `none` (the row length) marks a thread that found nothing; it never wins over a real index.
 */

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
