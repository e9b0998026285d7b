/** mergeLora / unmergeLora fold the adapters into the base weights and out again; disableAdapters runs the base model. */
import * as tf from '@tensorflow/tfjs';
import { describeValue } from '../validate/arguments.js';
import { checkMambaModel } from '../validate/entry_args.js';
import type { LoraLayer } from './lora_layer.js';
import { type LoraModel, loraState } from './state.js';

/**
 * W += delta for every adapter; the model then runs on the base weights alone. With a tied LM head,
 * merging `embeddings` changes the head as well (PEFT does the same and warns).
 */
export function mergeLora(model: LoraModel): void {
  checkMambaModel('mergeLora', model);
  const state = loraState(model, 'mergeLora');
  if (state.switches.merged) throw new Error('mergeLora: the adapters are already merged');
  if (state.layers.some((l) => l.target.module.baseVariable == null)) {
    throw new Error('mergeLora: the base weights are quantized (packed int8/int4 codes or float16 halves); adapters cannot '
      + 'be folded into them. Merge into the float32 model, then quantize or cast');
  }
  foldIn(state.layers, 'mergeLora', 1);
  if (model.lmHead?.tieWordEmbeddings && state.layers.some((l) => l.target.module.adapterKind === 'embedding')) {
    console.warn('mergeLora: the LM head is tied to the embeddings, so merging the embeddings adapter changes the head too');
  }
  state.switches.merged = true;
}

/** W -= delta: the base weights as they were before mergeLora (to float32 rounding). */
export function unmergeLora(model: LoraModel): void {
  const state = loraState(model, 'unmergeLora');
  if (!state.switches.merged) throw new Error('unmergeLora: the adapters are not merged');
  foldIn(state.layers, 'unmergeLora', -1);
  state.switches.merged = false;
}

function foldIn(layers: LoraLayer[], caller: string, sign: 1 | -1): void {
  tf.tidy(() => {
    const deltas = layers.map((layer) => layer.deltaWeight());
    const stuck = layers.filter((_, i) => deltas[i] == null).map((l) => l.path);
    if (stuck.length > 0) {
      throw new Error(`${caller}: ${stuck.join(', ')} cannot be merged: a conv1d adapter mixes channels `
        + 'and the depthwise base conv cannot hold that (PEFT does not merge grouped convs either)');
    }
    // Every new value first, so a base that cannot be read (a quantized one) leaves all unchanged.
    const updated = layers.map((layer, i) => tf.add(layer.target.module.baseVariable!.read(), tf.mul(deltas[i]!, sign)));
    layers.forEach((layer, i) => layer.target.module.baseVariable!.write(updated[i]));
  });
}

/**
 * Runs `fn` with every adapter switched off (the base model's outputs), then switches them back on.
 * The switch is the model's: other calls on it while `fn` runs (an async one) see the adapters off
 * too; they come back on once every overlapping `fn` has ended.
 */
export function disableAdapters<T>(model: LoraModel, fn: () => T): T {
  const { switches } = loraState(model, 'disableAdapters');
  if (typeof fn !== 'function') throw new TypeError(`disableAdapters: 'fn' must be a function, got ${describeValue(fn)}`);
  if (switches.merged) throw new Error('disableAdapters: the adapters are merged into the base weights; call unmergeLora first');
  switches.disabled += 1;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    switches.disabled -= 1;
    throw e;
  }
  if (result instanceof Promise) {
    return result.finally(() => { switches.disabled -= 1; }) as T;
  }
  switches.disabled -= 1;
  return result;
}
