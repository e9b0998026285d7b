/**
 * One step of the causal depthwise conv, thread per (batch, channel): the window [batch, dInner,
 * convKernel] (oldest first, the cache's layout) shifts left and takes the new input, then
 * silu(window . weight + bias). xz is in_proj's output [batch, 2 dInner]; its x half is read and
 * overwritten with the conv's output, which x_proj and the state step read next.
 * Bindings: xz, weight [dInner, convKernel], bias?, window.
 */
import { WGSL_ACTIVATIONS } from '../program.js';
import { computePipeline, declareBindings, type DecodeKernel, perChannelGrid, perChannelMain } from './pipeline.js';

export interface ConvStepDims {
  batch: number;
  dInner: number;
  convKernel: number;
  hasBias: boolean;
}

export function convStepKernel(device: GPUDevice, { batch, dInner, convKernel, hasBias }: ConvStepDims): DecodeKernel {
  const code = `
${declareBindings([['xz', 'f32', true], ['weight', 'f32', false], ...(hasBias ? [['bias', 'f32', false] as [string, string, boolean]] : []), ['window', 'f32', true]])}
${WGSL_ACTIVATIONS}
const DI = ${dInner}u;
const K = ${convKernel}u;
${perChannelMain(batch, dInner, `
  let base = index * K;
  var acc = ${hasBias ? 'bias[c]' : '0.0'};
  for (var k = 0u; k + 1u < K; k++) {
    let v = window[base + k + 1u];
    window[base + k] = v;
    acc += weight[c * K + k] * v;
  }
  let x = xz[b * 2u * DI + c];
  window[base + K - 1u] = x;
  acc += weight[c * K + K - 1u] * x;
  xz[b * 2u * DI + c] = silu(acc);`)}`;
  return { pipeline: computePipeline(device, code), grid: perChannelGrid(batch, dInner) };
}
