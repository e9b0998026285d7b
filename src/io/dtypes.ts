/**
 * safetensors dtypes and their conversion to the typed arrays tfjs takes. tfjs has no f16, bf16,
 * f64 or i64, so those widen or narrow here. Data is little-endian, as on every JS platform.
 */

/** Every dtype the reference implementation knows, in its order (ascending alignment), with its bits. */
export const DTYPE_BITS = {
  BOOL: 8, F4: 4, F6_E2M3: 6, F6_E3M2: 6, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8,
  F8_E4M3FNUZ: 8, F8_E5M2FNUZ: 8, I16: 16, U16: 16, F16: 16, BF16: 16, I32: 32, U32: 32,
  F32: 32, C64: 64, F64: 64, I64: 64, U64: 64,
} as const;

export type SafetensorsDtype = keyof typeof DTYPE_BITS;

export const DTYPE_ORDER = Object.keys(DTYPE_BITS) as SafetensorsDtype[];

export function isSafetensorsDtype(name: string): name is SafetensorsDtype {
  return Object.hasOwn(DTYPE_BITS, name);
}

/** The dtypes a float weight (a model's, an adapter's) may be stored in; each reads as float32. */
export const FLOAT_WEIGHT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16', 'F64'];

/** A float weight stored as an integer or bool dtype is refused, naming the tensor, its file and dtype. */
export function checkFloatWeight(key: string, dtype: string, file: string): void {
  if (!FLOAT_WEIGHT_DTYPES.includes(dtype)) {
    throw new Error(`${key} in ${file} is ${dtype}; weights must be ${FLOAT_WEIGHT_DTYPES.slice(0, -1).join(', ')} or F64`);
  }
}

/** What `values()` gives for each dtype it can convert. */
export type SafetensorsValues = Float32Array | Int32Array | Int16Array | Int8Array | Uint8Array
  | Uint16Array | Uint32Array;

type ArrayType<T> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number };

/** A typed-array view of `bytes` when its offset is aligned for `type`, else a view of an aligned copy. */
export function viewAs<T>(type: ArrayType<T>, bytes: Uint8Array): T {
  const length = bytes.byteLength / type.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % type.BYTES_PER_ELEMENT === 0) return new type(bytes.buffer, bytes.byteOffset, length);
  return new type(bytes.slice().buffer, 0, length);
}

let f16Table: Float32Array | null = null;

/** All 65536 half-precision values, built once: a table lookup is the fastest conversion in JS. */
function halfTable(): Float32Array {
  if (f16Table != null) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) table[h] = sign * mantissa * 2 ** -24;
    else if (exponent === 31) table[h] = mantissa === 0 ? sign * Infinity : NaN;
    else table[h] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  f16Table = table;
  return table;
}

export function f16ToFloat32(bytes: Uint8Array): Float32Array {
  const halves = viewAs(Uint16Array, bytes);
  const table = halfTable();
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) out[i] = table[halves[i]];
  return out;
}

/** bfloat16 is the top half of a float32: shifting the bits up is exact. */
export function bf16ToFloat32(bytes: Uint8Array): Float32Array {
  const halves = viewAs(Uint16Array, bytes);
  const out = new Uint32Array(halves.length);
  for (let i = 0; i < halves.length; i++) out[i] = halves[i] << 16;
  return new Float32Array(out.buffer);
}

/** 64-bit integers narrowed to int32; a value outside int32 is an error, never a silent wrap. */
export function int64ToInt32(bytes: Uint8Array, signed: boolean, what: string): Int32Array {
  const wide = signed ? viewAs(BigInt64Array, bytes) : viewAs(BigUint64Array, bytes);
  const out = new Int32Array(wide.length);
  for (let i = 0; i < wide.length; i++) {
    const v = wide[i];
    if (v < -2147483648n || v > 2147483647n) {
      throw new Error(`${what}: element ${i} = ${v} does not fit in int32`);
    }
    out[i] = Number(v);
  }
  return out;
}

/**
 * float32 values as IEEE half bits, rounded to nearest, ties to even (as torch's .half() and
 * Math.f16round do): past the half range they become infinities, below it subnormals or zeros;
 * NaN stays NaN. By hand: Node 20 has neither Math.f16round nor Float16Array.
 */
export function float32ToF16(values: Float32Array): Uint16Array {
  // int32 views: V8 keeps them small integers (a uint32 past 2^31, any negative weight, is a double)
  const bits = new Int32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = halfBits(bits[i]);
  return out;
}

/**
 * bfloat16 as IEEE half bits, each rounded once to the nearest half, ties to even: a bfloat16 widens
 * to float32 exactly, so this is float32ToF16 of the widened value (torch's bf16 .half()) without
 * holding the float32 tensor.
 */
export function bf16ToF16(bytes: Uint8Array): Uint16Array {
  const stored = viewAs(Uint16Array, bytes);
  const out = new Uint16Array(stored.length);
  for (let i = 0; i < stored.length; i++) out[i] = halfBits(stored[i] << 16);
  return out;
}

/**
 * The half nearest float32 bits `b`, ties to even. Integer arithmetic only, no allocation: it runs
 * once per weight (2.8 billion for a 2.8b model; an array-returning form took 155 ns a weight).
 */
function halfBits(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exponent = (b >>> 23) & 0xff;
  const mantissa = b & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200);
  const e = exponent - 112;   // the half's biased exponent
  if (e >= 31) return sign | 0x7c00;
  if (e > 0) {
    // A normal half keeps the top 10 mantissa bits; a carry out of them moves to the next exponent
    // (or to infinity), as the encoding wants.
    // Rounding without a branch (random weights mispredict one): the dropped 13 bits plus 0xfff, plus 1
    // where the kept bits are odd, carry into bit 13 exactly when they round up.
    const kept = mantissa >>> 13;
    return sign | (((e << 10) | kept) + (((mantissa & 0x1fff) + 0xfff + (kept & 1)) >>> 13));
  }
  // A subnormal half shifts the implicit 1 in as well; below half the smallest one: zero.
  const shift = 14 - e;
  if (shift > 24) return sign;
  const m = mantissa | 0x800000;
  const kept = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  return sign | (kept + (rest > halfway || (rest === halfway && (kept & 1) === 1) ? 1 : 0));
}

/** `values` in a buffer of their own: a view into a larger one (a file read whole) is copied, so it can be dropped. */
export function ownBuffer<T extends SafetensorsValues>(values: T): T {
  return values.byteLength === values.buffer.byteLength ? values : values.slice() as T;
}
