/**
 * Every test file may run first: importing tfjs-backend-wasm makes `wasm` the preferred backend, which
 * starts asynchronously, so a plain `describe` that uses tf before any `describeBackends` found no
 * initialised backend. The run starts wasm on the suites' thread count first (tfjs fixes the count
 * when wasm starts, and a test that asks for wasm without a count takes the running one), then cpu;
 * suites that need another backend set it themselves.
 * Dawn's validation stays on in the tests (users get it off, src/webgpu/dawn_flags.ts), whichever
 * suite starts Dawn first and in the processes the tests start: an invalid command fails there.
 */
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/backend.js';
import { DAWN_FLAGS_VARIABLE } from '../../src/webgpu/dawn_flags.js';
import { TEST_WASM_THREADS } from './backends.js';

process.env[DAWN_FLAGS_VARIABLE] = `${process.env[DAWN_FLAGS_VARIABLE] ?? ''} disable-dawn-features=skip_validation`.trim();

export const mochaHooks = {
  async beforeAll(): Promise<void> {
    await useBackend('wasm', { threads: TEST_WASM_THREADS });
    await tf.setBackend('cpu');
  },
};
