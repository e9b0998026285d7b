/** Parameter counts as PEFT's print_trainable_parameters reports them. */
import type * as tf from '@tensorflow/tfjs';

export function trainableParameters(model: tf.LayersModel): { trainable: number; all: number } {
  const size = (ws: tf.LayerVariable[]) => ws.reduce((n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
  return { trainable: size(model.trainableWeights), all: size(model.weights) };
}

/** "trainable params: 6,336 || all params: 40,512 || trainable%: 15.6398" */
export function formatTrainableParameters(model: tf.LayersModel): string {
  const { trainable, all } = trainableParameters(model);
  const count = (n: number) => n.toLocaleString('en-US');
  return `trainable params: ${count(trainable)} || all params: ${count(all)} || trainable%: ${(100 * trainable / all).toFixed(4)}`;
}

export function printTrainableParameters(model: tf.LayersModel, print: (line: string) => void = console.log): void {
  print(formatTrainableParameters(model));
}
