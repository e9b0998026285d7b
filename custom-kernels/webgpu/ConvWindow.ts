/**
 * The conv state a prompt leaves, for the fused prefill (src/model/webgpu_prefill.ts): the last
 * `width` inputs of the window past ++ x, oldest first, as the op path's concat and slice make it
 * (src/layers/mixer.ts). One thread per (batch, channel, slot):
 *   state[b, d, k] = window[seq + k],  window[j] = past[b, d, j] for j < width, else x[b, j - width, d]
 * Inputs: x [batch, seq, channels] (rows xRowStride apart), past [batch, channels, width].
 */
import { FlatProgram } from './program.js';

export class ConvWindowProgram extends FlatProgram {
  constructor(batch: number, seq: number, private readonly channels: number,
    private readonly width: number, private readonly xRowStride: number) {
    super('convWindow', [batch, channels, width], ['x', 'past'], batch * channels * width, { seqLen: seq },
      [channels, width, xRowStride]);
  }

  protected body(): string {
    const C = this.channels, W = this.width;
    return `
      let k = index % ${W};
      let d = (index / ${W}) % ${C};
      let b = index / ${W * C};
      let j = uniforms.seqLen + k;
      if (j < ${W}) {
        result[index] = past[(b * ${C} + d) * ${W} + j];
      } else {
        result[index] = x[(b * uniforms.seqLen + j - ${W}) * ${this.xRowStride} + d];
      }`;
  }
}
