/**
 * Every test file may run first: importing tfjs-backend-wasm makes `wasm` the preferred backend, which
 * starts asynchronously, so a plain `describe` that uses tf before any `describeBackends` found no
 * initialised backend. The run starts wasm on the suites' thread count first (tfjs fixes the count
 * when wasm starts, and a test that asks for wasm without a count takes the running one), then cpu;
 * suites that need another backend set it themselves.
 */
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/backend.js';
import { TEST_WASM_THREADS } from './backends.js';

export const mochaHooks = {
  async beforeAll(): Promise<void> {
    await useBackend('wasm', { threads: TEST_WASM_THREADS });
    await tf.setBackend('cpu');
  },
};
