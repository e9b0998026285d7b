/**
 * Importing this registers everything tfjs needs to run the library: the layer classes (with their
 * modules), the gradients and the kernels for every backend, and the file:// handler for Node.
 * Both public entry points (index.ts, kernels.ts) start with it.
 */
import './ops/gradients.js';
import '../custom-kernels/register.js';
import { registerFileRouter } from './io/file_handler.js';

registerFileRouter();
