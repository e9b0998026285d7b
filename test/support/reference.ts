/** The tiny model's reference tensors (test/fixtures/tiny/reference.safetensors) from HF transformers. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { parseSafetensors } from '../../src/io/safetensors.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
export const TINY = `${FIXTURES}tiny`;

/** Values and shape of every reference tensor, read once per file. */
export interface RefArray {
  values: Float32Array | Int32Array;
  shape: number[];
}

const cache = new Map<string, Map<string, RefArray>>();

export function loadReference(file = `${TINY}/reference.safetensors`): Map<string, RefArray> {
  let refs = cache.get(file);
  if (!refs) {
    refs = new Map();
    for (const [key, info] of parseSafetensors(new Uint8Array(readFileSync(file))).tensors) {
      const values = info.dtype === 'I32' || info.dtype === 'I64' ? Int32Array.from(info.values() as ArrayLike<number>)
        : info.toFloat32();
      refs.set(key, { values, shape: info.shape });
    }
    cache.set(file, refs);
  }
  return refs;
}

export function ref(name: string, file?: string): RefArray {
  const r = loadReference(file).get(name);
  if (!r) throw new Error(`reference tensor ${name} is not in the fixture`);
  return r;
}

/** A reference tensor as int32 ids. */
export function refIds(name: string, file?: string): tf.Tensor2D {
  const r = ref(name, file);
  return tf.tensor2d(Int32Array.from(r.values), r.shape as [number, number], 'int32');
}
