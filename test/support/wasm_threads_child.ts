/**
 * A process of its own for test/backend/wasm_threads.test.ts (tfjs fixes the wasm thread count for
 * the life of a process): starts wasm on argv[2] threads, then does argv[3]:
 *   product   a 40 x 300 @ 300 x 50 product, printed as JSON with the thread count; then ends by itself
 *   wait      prints `ready` and waits (for a Ctrl-C)
 *   refix     asks for another thread count
 */
import * as tf from '@tensorflow/tfjs';
import { useBackend, wasmThreads } from '../../src/backend.js';

const [threads, mode] = [Number(process.argv[2]), process.argv[3]];
await useBackend('wasm', { threads });
if (mode === 'product') {
  const a = tf.randomUniform([40, 300], -1, 1, 'float32', 1), b = tf.randomUniform([300, 50], -1, 1, 'float32', 2);
  const y = tf.matMul(a, b);
  const [av, bv, yv] = [await a.array(), await b.array(), await y.array()] as number[][][];
  let maxError = 0;
  for (let i = 0; i < 40; i++) {
    for (let j = 0; j < 50; j++) {
      let sum = 0;
      for (let k = 0; k < 300; k++) sum += av[i][k] * bv[k][j];
      maxError = Math.max(maxError, Math.abs(sum - yv[i][j]));
    }
  }
  tf.dispose([a, b, y]);
  console.log(JSON.stringify({ threads: wasmThreads(), maxError, tensors: tf.memory().numTensors }));
} else if (mode === 'wait') {
  console.log('ready');
  setInterval(() => {}, 1000);
} else if (mode === 'refix') {
  await useBackend('wasm', { threads: threads + 1 }).catch((e: Error) => console.log(e.message));
}
