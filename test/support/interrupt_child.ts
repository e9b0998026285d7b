/**
 * Child process for the Ctrl-C test: a body that ignores its signal (a save that takes long) under
 * interruptible; prints "ready" once listening, "first" when the first Ctrl-C arrives.
 */
import { interruptible } from '../../src/cli/interrupt.js';

await interruptible(async () => {
  process.stdout.write('ready\n');
  await new Promise(() => setInterval(() => {}, 1000));
}, () => process.stdout.write('first\n'));
