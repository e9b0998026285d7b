/** A model's state as plain numbers, for bit-for-bit comparisons between two ways of making one model. */
import * as tf from '@tensorflow/tfjs';
import type { LayerVariable } from '../../src/layers/layer_args.js';
import type { MambaForCausalLM } from '../../src/model/causal_lm.js';

/** The logits of `ids` [batch, seq], every position. */
export async function logitsOf(model: MambaForCausalLM, ids: number[][]): Promise<Float32Array> {
  const input = tf.tensor2d(ids, undefined, 'int32');
  const out = model.forward(input).logits;
  const values = await out.data() as Float32Array;
  tf.dispose([input, out]);
  return values;
}

/** Every variable by HF name: dtype, shape and bits (a float's as its uint32 pattern). */
export async function variableBits(
  model: { namedLayerVariables(): Map<string, LayerVariable> },
): Promise<[string, string, number[], number[]][]> {
  const out: [string, string, number[], number[]][] = [];
  for (const [name, v] of model.namedLayerVariables()) {
    const data = await v.read().data();
    const bits = data instanceof Float32Array ? new Uint32Array(data.buffer, data.byteOffset, data.length) : data;
    out.push([name, v.dtype, v.shape as number[], [...bits as Int32Array | Uint32Array]]);
  }
  return out;
}
