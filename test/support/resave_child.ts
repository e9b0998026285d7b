/**
 * Child process for the atomic-save test: re-saves the two fixed tiny models (seeds 1 and 2,
 * alternating) over `<root>/model` (savePretrained) and `<root>/adapter` (saveAdapter) at the same
 * time, in loops, until it is killed; prints "saving" once both loops have saved once.
 */
import * as tf from '@tensorflow/tfjs';
import { saveAdapter } from '../../src/lora/adapter_io.js';
import { atomicTestModels } from './atomic_models.js';

const root = process.argv[2];
await tf.setBackend('cpu');
const models = atomicTestModels(false);
const adapters = atomicTestModels(true);
let started = 0;
const loop = async (save: (i: number) => Promise<void>) => {
  for (let i = 0; ; i++) {
    await save(i);
    if (i === 0 && ++started === 2) process.stdout.write('saving\n');
  }
};
await Promise.all([
  loop((i) => models[i % 2].savePretrained(`${root}/model`)),
  loop((i) => saveAdapter(adapters[i % 2], `${root}/adapter`)),
]);
