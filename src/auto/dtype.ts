/**
 * The weight dtypes users name, by transformers.js (`fp32`, `q8`, `q4`, ...) and HF (`float32`,
 * `int8`, ...), to what fromPretrained loads. One table: a dtype this package cannot load yet names
 * what it can instead of being ignored.
 */
import type { PretrainedDtype } from '../model/pretrained.js';

type DtypeEntry = { load: PretrainedDtype | undefined } | { unsupported: string };

export const DTYPES: Readonly<Record<string, DtypeEntry>> = {
  auto: { load: undefined },   // as the checkpoint stores it (a quantized one quantized, a float one as float32)
  fp32: { load: 'float32' }, float32: { load: 'float32' },
  // float16 weights run on webgpu only; fromPretrained names the backend they need elsewhere.
  fp16: { load: 'float16' }, float16: { load: 'float16' },
  // No bfloat16 kernels: bfloat16 asks for half-size weights, and gets float16 ones (a BF16 file rounded to halves).
  bf16: { load: 'float16' }, bfloat16: { load: 'float16' },
  q8: { load: 'int8' }, int8: { load: 'int8' }, uint8: { load: 'int8' },
  q4: { load: 'int4' }, int4: { load: 'int4' },
  q4f16: { unsupported: "int4 codes with float16 scales are not supported; 'q4' is int4 with float32 scales and zeros, 'fp16' float16 weights (webgpu)" },
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
