/**
 * out_proj's output stages: each finished sum v of row `row` against x row b goes into the residual
 * stream h (the matvec's y),
 *   h[b, row] = h[b, row] + v
 * and, ahead of the next layer's norm (RMSNorm: normed = h * rsqrt(mean(h^2) + eps) * gamma),
 *   normed[b, row] = h[b, row] * gamma[row],   keep(b, h[b, row]^2)
 * the kernel summing kept over each workgroup into partials [batch, workgroups]
 * (MatvecOutput.partialSums). The next in_proj reads normed as it is, finds each row's
 * rsqrt(mean(h^2) + eps) from the partials and scales its sums as they leave (MatvecDims.norm's
 * partials): the norm then takes neither a dispatch of its own nor work in in_proj's products.
 * h (and gamma) are read ahead of the products: on an H100 the 2.8b float32 out_proj took 19.8 us a
 * call against 20.9 reading h after its reduction (float16 12.4 against 12.8; level at batch 8;
 * bench/results/h200-2026-12-05.md, call 28). (The conv step's loads ahead cost in_proj 2.5 us.)
 */
import type { MatvecOutput } from './matvec.js';

/** h += v. */
export const ACCUMULATE_OUTPUT: MatvecOutput = residualOutput(false);

/** h += v, and the next norm's input: normed = h * gamma, keep(b, h^2). Bindings after h: normed, gamma, partials. */
export const NORM_AHEAD_OUTPUT: MatvecOutput = residualOutput(true);

function residualOutput(normAhead: boolean): MatvecOutput {
  return {
    bindings: normAhead ? [['normed', 'f32', true], ['nextGamma', 'f32', false], ['partials', 'f32', true]] : [],
    ...(normAhead ? { partialSums: 'partials' } : {}),
    store: `var<private> heldAt : u32 = 0xffffffffu;
var<private> held : f32;${normAhead ? `
var<private> heldGamma : f32;` : ''}
fn store(b : u32, row : u32, v : f32) {
  let i = b * O + row;
  var before : f32;${normAhead ? `
  var gamma : f32;
  if (i == heldAt) { before = held; gamma = heldGamma; } else { before = y[i]; gamma = nextGamma[row]; }` : `
  if (i == heldAt) { before = held; } else { before = y[i]; }`}
  let h = before + v;
  y[i] = h;${normAhead ? `
  normed[i] = h * gamma;
  keep(b, h * h);` : ''}
}`,
    ahead: `fn ahead(b : u32, row : u32) {
  heldAt = b * O + row;
  held = y[heldAt];${normAhead ? `
  heldGamma = nextGamma[row];` : ''}
}`,
  };
}
