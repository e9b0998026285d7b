/**
 * The scan fixtures (test/fixtures/scan/*): mamba_ssm's channels-first tensors, read from
 * safetensors and transposed to this package's channels-last layout.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { parseSafetensors } from '../../src/io/safetensors.js';

const SCAN_DIR = fileURLToPath(new URL('../fixtures/scan/', import.meta.url));

/** Fixture names that are [batch, channels, seq] there and [batch, seq, channels] here. */
const SEQUENCE_TENSORS = new Set(['u', 'delta', 'z', 'B', 'C', 'out', 'grad_out',
  'grad.u', 'grad.delta', 'grad.z', 'grad.B', 'grad.C']);

/** Every tensor of a fixture by its fixture name, channels-last. Dispose with tf.dispose. */
export function loadScanFixture(name: string): Map<string, tf.Tensor> {
  const file = parseSafetensors(new Uint8Array(readFileSync(`${SCAN_DIR}${name}.safetensors`)));
  const tensors = new Map<string, tf.Tensor>();
  for (const [key, info] of file.tensors) {
    const t = tf.tensor(info.toFloat32(), info.shape, 'float32');
    if (SEQUENCE_TENSORS.has(key)) {
      tensors.set(key, tf.transpose(t, [0, 2, 1]));
      t.dispose();
    } else {
      tensors.set(key, t);
    }
  }
  return tensors;
}
