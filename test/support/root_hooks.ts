/**
 * Every test file may run first: importing tfjs-backend-wasm makes `wasm` the preferred backend, which
 * starts asynchronously, so a plain `describe` that uses tf before any `describeBackends` found no
 * initialised backend. The run starts on cpu; suites that need another set it themselves.
 */
import * as tf from '@tensorflow/tfjs';

export const mochaHooks = {
  async beforeAll(): Promise<void> {
    await tf.setBackend('cpu');
  },
};
