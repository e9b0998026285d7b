#!/usr/bin/env node
/** The `mamba-tfjs` command (package.json `bin`). Commands are listed in commands.ts. */
import './relaxed_simd.js';
import * as tf from '@tensorflow/tfjs';
import '../index.js';
import { carryOnPastClosedPipe, exitQuietlyOnClosedPipe } from './closed_pipe.js';
import { runCli } from './dispatch.js';

// Production mode: no debug checks, and no tfjs banners in the output.
tf.enableProdMode();
exitQuietlyOnClosedPipe(process.stdout);
carryOnPastClosedPipe(process.stderr);
process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
