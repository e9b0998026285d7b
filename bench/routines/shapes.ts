/** Model shapes the benchmarks run, by name (random weights: speed does not depend on the values). */
import { MambaConfig } from '../../src/config.js';

export const BENCH_SHAPES: Record<string, () => MambaConfig> = {
  /** state-spaces/mamba-130m-hf */
  '130m': () => new MambaConfig({ hiddenSize: 768, numHiddenLayers: 24, stateSize: 16, vocabSize: 50280 }),
  /** state-spaces/mamba-370m-hf */
  '370m': () => new MambaConfig({ hiddenSize: 1024, numHiddenLayers: 48, stateSize: 16, vocabSize: 50280 }),
  /** state-spaces/mamba-790m-hf */
  '790m': () => new MambaConfig({ hiddenSize: 1536, numHiddenLayers: 48, stateSize: 16, vocabSize: 50280 }),
  /** state-spaces/mamba-1.4b-hf */
  '1.4b': () => new MambaConfig({ hiddenSize: 2048, numHiddenLayers: 48, stateSize: 16, vocabSize: 50280 }),
  /** state-spaces/mamba-2.8b-hf */
  '2.8b': () => new MambaConfig({ hiddenSize: 2560, numHiddenLayers: 64, stateSize: 16, vocabSize: 50280 }),
  /** 2.8b's 64 layers at small widths: a token's dispatches as 2.8b records them, for the host's cost of a token (bench/host.ts). */
  deep: () => new MambaConfig({ hiddenSize: 256, numHiddenLayers: 64, stateSize: 16, vocabSize: 2048 }),
  /** A model small enough for the pure-JS cpu backend. */
  small: () => new MambaConfig({ hiddenSize: 256, numHiddenLayers: 4, stateSize: 16, vocabSize: 2048 }),
};

export function benchShape(name: string): MambaConfig {
  const make = Object.hasOwn(BENCH_SHAPES, name) ? BENCH_SHAPES[name] : undefined;
  if (!make) throw new Error(`unknown shape '${name}'; known: ${Object.keys(BENCH_SHAPES).join(', ')}`);
  return make();
}
