/**
 * One step of the causal depthwise conv, per (batch, channel): the window [batch, dInner,
 * convKernel] (oldest first, the cache's layout) shifts left and takes the new input x, then
 *   u = silu(window . weight + bias)
 * As a kernel of its own (thread per channel), xz is in_proj's output [batch, 2 dInner]: its x half
 * is read and overwritten with u, which x_proj and the state step read next. Bindings: xz, weight
 * [dInner, convKernel], bias?, window. Or as in_proj's output stage (convStepOutput): the thread
 * that has a row of the x half takes the step on its way out, one dispatch fewer per layer.
 */
import { WGSL_ACTIVATIONS } from '../program.js';
import type { MatvecOutput } from './matvec.js';
import { computePipeline, declareBindings, type DecodeKernel, perChannelGrid, perChannelMain } from './pipeline.js';

export interface ConvStepDims {
  dInner: number;
  convKernel: number;
  hasBias: boolean;
}

/** The step's bindings: weight, bias?, window. */
function stepBindings(hasBias: boolean): [string, string, boolean][] {
  return [['convWeight', 'f32', false], ...(hasBias ? [['convBias', 'f32', false] as [string, string, boolean]] : []), ['window', 'f32', true]];
}

/** WGSL `fn convStep(b, c, x) -> f32`: channel c of row b takes x, its window shifts; u out. */
function stepFunction({ dInner, convKernel, hasBias }: ConvStepDims): string {
  return `${WGSL_ACTIVATIONS}
fn convStep(b : u32, c : u32, x : f32) -> f32 {
  let K = ${convKernel}u;
  let base = (b * ${dInner}u + c) * K;
  var acc = ${hasBias ? 'convBias[c]' : '0.0'};
  for (var k = 0u; k + 1u < K; k++) {
    let v = window[base + k + 1u];
    window[base + k] = v;
    acc += convWeight[c * K + k] * v;
  }
  window[base + K - 1u] = x;
  acc += convWeight[c * K + K - 1u] * x;
  return silu(acc);
}`;
}

export function convStepKernel(device: GPUDevice, dims: ConvStepDims & { batch: number }): DecodeKernel {
  const { batch, dInner } = dims;
  const code = `
${declareBindings([['xz', 'f32', true], ...stepBindings(dims.hasBias)])}
${stepFunction(dims)}
${perChannelMain(batch, dInner, `
  let i = b * 2u * ${dInner}u + c;
  xz[i] = convStep(b, c, xz[i]);`)}`;
  return { pipeline: computePipeline(device, code), grid: perChannelGrid(batch, dInner) };
}

/** in_proj's output stage with the step on its x half (rows under dInner), z as it comes. Bindings after y: weight, bias?, window. */
export function convStepOutput(dims: ConvStepDims): MatvecOutput {
  return {
    bindings: stepBindings(dims.hasBias),
    store: `${stepFunction(dims)}
fn store(b : u32, row : u32, v : f32) {
  if (row < ${dims.dInner}u) { y[b * O + row] = convStep(b, row, v); } else { y[b * O + row] = v; }
}`,
  };
}
