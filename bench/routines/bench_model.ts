/**
 * A model of BENCH_SHAPE (130m unless set) with random weights in one of the formats the GPU benchmarks
 * take by name: float32, float16 (toFloat16), int8 or int4 (random codes: routines/random_quantized.ts).
 */
import { benchShape } from './shapes.js';
import { randomQuantize } from './random_quantized.js';
import { MambaForCausalLM, toFloat16 } from '../../src/index.js';

export const BENCH_FORMATS = ['float32', 'float16', 'int8', 'int4'];

/** The model for `format`; `bench` names the benchmark in the error for a format it does not know. */
export async function benchModel(format: string, bench: string): Promise<MambaForCausalLM> {
  if (!BENCH_FORMATS.includes(format)) throw new Error(`${bench}: no format ${format} (${BENCH_FORMATS.join(', ')})`);
  const model = new MambaForCausalLM({ config: benchShape(process.env.BENCH_SHAPE ?? '130m') });
  if (format === 'float16') await toFloat16(model);
  else if (format === 'int8' || format === 'int4') randomQuantize(model, format === 'int4' ? 4 : 8);
  return model;
}
