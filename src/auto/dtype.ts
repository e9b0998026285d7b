/**
 * The weight dtypes users name, by transformers.js (`fp32`, `q8`, `q4`, ...) and HF (`float32`,
 * `int8`, ...), to what fromPretrained loads. One table: a dtype this package cannot load yet names
 * what it can instead of being ignored.
 */
import type { PretrainedDtype } from '../model/pretrained.js';

type DtypeEntry = { load: PretrainedDtype | undefined } | { unsupported: string };

const FLOAT16 = 'half-precision weights are not supported yet (every kernel computes in float32); '
  + "use 'fp32', or 'q8' / 'q4' for smaller weights";

export const DTYPES: Readonly<Record<string, DtypeEntry>> = {
  auto: { load: undefined },   // as the checkpoint stores it (a quantized one quantized, a float one as float32)
  fp32: { load: 'float32' }, float32: { load: 'float32' },
  q8: { load: 'int8' }, int8: { load: 'int8' }, uint8: { load: 'int8' },
  q4: { load: 'int4' }, int4: { load: 'int4' },
  fp16: { unsupported: FLOAT16 }, float16: { unsupported: FLOAT16 }, bfloat16: { unsupported: FLOAT16 },
  bf16: { unsupported: FLOAT16 }, q4f16: { unsupported: FLOAT16 },
  bnb4: { unsupported: "bitsandbytes' 4-bit (NF4) format is not supported; 'q4' is int4 with a scale and zero per group" },
};

/** What fromPretrained's `dtype` becomes for a dtype as the user wrote it (undefined: as stored). */
export function resolveDtype(dtype: unknown, what: string): PretrainedDtype | undefined {
  if (dtype === undefined) return undefined;
  const entry = typeof dtype === 'string' && Object.hasOwn(DTYPES, dtype) ? DTYPES[dtype] : undefined;
  if (entry === undefined) {
    throw new Error(`${what}: unknown dtype ${JSON.stringify(dtype)}; choose one of ${Object.keys(DTYPES).join(', ')}`);
  }
  if ('unsupported' in entry) throw new Error(`${what}: dtype '${String(dtype)}': ${entry.unsupported}`);
  return entry.load;
}
