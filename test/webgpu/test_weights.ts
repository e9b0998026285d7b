/**
 * Weight matrices [N, K] for the decode kernels' tests: as a kernel binds them (float32, float16
 * halves, packed int8/int4 codes with scales and zeros) and as float64 values for the reference.
 */
import type { WeightSource } from '../../custom-kernels/webgpu/decode/weight_source.js';
import { packHalves } from '../../src/weights/float16_packing.js';
import { type QuantLayout } from '../../custom-kernels/packed_format.js';
import { quantizeMatrix } from '../../src/weights/packing.js';
import { dequantize64 } from '../support/matmul_reference.js';
import { normal, randomHalves } from '../support/random.js';
import type { Binding } from './raw_device.js';

/** A weight as the kernel binds it and as float64 for the reference. */
export interface TestWeight {
  source: WeightSource;
  bindings: Binding[];
  w64: Float64Array;
}

export function float32Weight(rng: () => number, N: number, K: number): TestWeight {
  const w64 = normal(rng, N * K, 0.2);
  return { source: null, bindings: [Float32Array.from(w64)], w64 };
}

export function float16Weight(rng: () => number, N: number, K: number): TestWeight {
  const { bits, values } = randomHalves(rng, N * K);
  return { source: 'float16', bindings: [packHalves(bits, [N, K])], w64: values };
}

export function packedWeight(rng: () => number, N: number, K: number, layout: QuantLayout): TestWeight {
  const q = quantizeMatrix(Float32Array.from(normal(rng, N * K, 0.2)), [N, K], layout);
  return {
    source: { bits: layout.bits, groupSize: layout.groupSize, inFeatures: K, hasZeros: !layout.symmetric },
    bindings: [q.packed, q.scales, ...(q.zeros ? [q.zeros] : [])],
    w64: dequantize64(q, [N, K], layout),
  };
}
