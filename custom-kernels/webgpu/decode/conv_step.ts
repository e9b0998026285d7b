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
import { type MatvecOutput, matvecTrials } from './matvec.js';
import type { WeightSource } from './weight_source.js';
import { computePipeline, declareBindings, type DecodeKernel, perChannelGrid, perChannelMain, range } from './pipeline.js';

export interface ConvStepDims {
  dInner: number;
  convKernel: number;
  hasBias: boolean;
}

/** The step's bindings: weight, bias?, window. */
function stepBindings(hasBias: boolean): [string, string, boolean][] {
  return [['convWeight', 'f32', false], ...(hasBias ? [['convBias', 'f32', false] as [string, string, boolean]] : []), ['window', 'f32', true]];
}

/**
 * The step's inputs for channel `c` (a WGSL expression) in convStepFrom's order after x: the window's
 * last K - 1 values, the K weights, the bias; each a name (`Window0`, `Weight0`, `Bias`) and its load,
 * `base` being the channel's window (windowBase).
 */
function stepInputs({ convKernel: K, hasBias }: ConvStepDims, c: string): [string, string][] {
  return [
    ...range(K - 1).map((k): [string, string] => [`Window${k}`, `window[base + ${k + 1}u]`]),
    ...range(K).map((k): [string, string] => [`Weight${k}`, `convWeight[${c} * ${K}u + ${k}u]`]),
    ['Bias', hasBias ? `convBias[${c}]` : '0.0'],
  ];
}

/**
 * WGSL `fn convStep(b, c, x) -> f32`: channel c of row b takes x, its window shifts; u out. It loads
 * the step's inputs (stepInputs) and gives them to `convStepFrom`, which the output stage also calls
 * with the same values loaded ahead (convStepOutput).
 */
function stepFunction(dims: ConvStepDims): string {
  const { dInner, convKernel: K } = dims;
  const taps = range(K - 1);
  const inputs = stepInputs(dims, 'c');
  return `${WGSL_ACTIVATIONS}
/** Where the window of channel c of row b starts. */
fn windowBase(b : u32, c : u32) -> u32 {
  return (b * ${dInner}u + c) * ${K}u;
}
/** The step of channel c of row b from its window's last values, its weights and bias: the window shifts, x comes in. */
fn convStepFrom(b : u32, c : u32, x : f32, ${inputs.map(([name]) => `${name.toLowerCase()} : f32`).join(', ')}) -> f32 {
  let base = windowBase(b, c);
  ${taps.map((k) => `window[base + ${k}u] = window${k};`).join(' ')}
  window[base + ${K - 1}u] = x;
  return silu(bias${taps.map((k) => ` + weight${k} * window${k}`).join('')} + weight${K - 1} * x);
}
fn convStep(b : u32, c : u32, x : f32) -> f32 {
  let base = windowBase(b, c);
  return convStepFrom(b, c, x, ${inputs.map(([, load]) => load).join(', ')});
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

/**
 * Whether in_proj's output stage loads the conv step's inputs ahead (convStepOutput's `ahead`): for
 * halves at batch 1, or at every weight and batch under the trial matvecTrials.convAhead. On an H100
 * (2.8b, greedy, the GPU's own step, the plan and the trial in one process;
 * bench/results/h200-2026-12-05.md, calls 109 and 110) float16 at batch 1 went 2.87 -> 2.83 ms in both
 * calls, where float16 at batch 8 (4.89 -> 5.07), float32 at batch 1 (4.84 -> 5.01) and int4 at
 * batch 1 (1.94 -> 1.99) lost: registers held through the products cost them more.
 */
export function convLoadsAhead(weight: WeightSource, batch: number): boolean {
  return matvecTrials.convAhead || (weight === 'float16' && batch === 1);
}

/**
 * in_proj's output stage with the step on its x half (rows under dInner), z as it comes. Bindings after
 * y: weight, bias?, window. With `ahead` (convLoadsAhead), the thread that stores a channel's sum loads
 * its window, weights and bias before its products (MatvecOutput.ahead), so that the step does not
 * wait a round trip after the reduction; the store takes them for that (row, channel) only.
 */
export function convStepOutput(dims: ConvStepDims, ahead = false): MatvecOutput {
  const { dInner, hasBias } = dims;
  const inputs = stepInputs(dims, 'row');
  const held = ahead ? `
var<private> heldAt : u32 = 0xffffffffu;
${inputs.map(([name]) => `var<private> held${name} : f32;`).join('\n')}` : '';
  return {
    bindings: stepBindings(hasBias),
    store: `${stepFunction(dims)}${held}
fn store(b : u32, row : u32, v : f32) {
  if (row >= ${dInner}u) {
    y[b * O + row] = v;
  } else ${ahead ? `if (b * O + row == heldAt) {
    y[b * O + row] = convStepFrom(b, row, v, ${inputs.map(([name]) => `held${name}`).join(', ')});
  } else ` : ''}{
    y[b * O + row] = convStep(b, row, v);
  }
}`,
    ...(ahead ? {
      ahead: `fn ahead(b : u32, row : u32) {
  if (row < ${dInner}u) {
    heldAt = b * O + row;
    let base = windowBase(b, row);
    ${inputs.map(([name, load]) => `held${name} = ${load};`).join(' ')}
  }
}`,
    } : {}),
  };
}
