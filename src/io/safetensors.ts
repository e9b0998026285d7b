/**
 * The safetensors format, read and written as the reference (huggingface/safetensors, Rust)
 * defines it: u64 little-endian header length, a JSON header, then the tensors' bytes, contiguous
 * from offset 0 to the end of the file. The reader validates everything before touching tensor data
 * and hands out views into the caller's bytes, so a file is never copied by parsing it; the header can
 * also be read alone (its length, then the header) and the tensors later by their byte ranges.
 */
import {
  DTYPE_BITS, DTYPE_ORDER, bf16ToFloat32, f16ToFloat32, int64ToInt32, isSafetensorsDtype, viewAs,
  type SafetensorsDtype, type SafetensorsValues,
} from './dtypes.js';
import { JsonNumber, parseStrictJson, type JsonObject, type JsonValue } from './strict_json.js';

export { type SafetensorsDtype, type SafetensorsValues } from './dtypes.js';

/** The reference's limit on the header (MAX_HEADER_SIZE). */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';
const USIZE_MAX = 2n ** 64n - 1n;

/** An error in a safetensors file; the message names the rule it breaks. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(`safetensors: ${message}`);
    this.name = 'SafetensorsError';
  }
}

/** One tensor's header entry: where its bytes are and what they hold. */
export interface SafeTensorEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: number[];
  /** [begin, end) within the data section, as the header states them. */
  readonly dataOffsets: [number, number];
}

/** One tensor of a parsed file: its header entry and a view of its bytes. */
export class SafeTensorInfo implements SafeTensorEntry {
  constructor(
    readonly name: string,
    readonly dtype: SafetensorsDtype,
    readonly shape: number[],
    /** [begin, end) within the data section, as the header states them. */
    readonly dataOffsets: [number, number],
    /** A view into the file's bytes (or a range read of them), not a copy. */
    readonly bytes: Uint8Array,
  ) {}

  /** An entry of a header read alone, with its bytes read separately (src/io/safetensors_file.ts). */
  static of(entry: SafeTensorEntry, bytes: Uint8Array): SafeTensorInfo {
    if (bytes.byteLength !== entry.dataOffsets[1] - entry.dataOffsets[0]) {
      throw new SafetensorsError(`tensor '${entry.name}': ${bytes.byteLength} bytes given for data_offsets [${entry.dataOffsets}]`);
    }
    return new SafeTensorInfo(entry.name, entry.dtype, entry.shape, entry.dataOffsets, bytes);
  }

  /**
   * The values in the typed array closest to the dtype: F32, F16, BF16, F64 -> Float32Array;
   * I64, U64 -> Int32Array (range-checked); I32/I16/I8/U8/U16/U32 -> their own; BOOL -> Uint8Array.
   * F32 and the integer types are views of the file where the offset is aligned, copies where not.
   */
  values(): SafetensorsValues {
    const what = `tensor '${this.name}' (${this.dtype})`;
    switch (this.dtype) {
      case 'F32': return viewAs(Float32Array, this.bytes);
      case 'F16': return f16ToFloat32(this.bytes);
      case 'BF16': return bf16ToFloat32(this.bytes);
      case 'F64': return Float32Array.from(viewAs(Float64Array, this.bytes));
      case 'I64': return int64ToInt32(this.bytes, true, what);
      case 'U64': return int64ToInt32(this.bytes, false, what);
      case 'I32': return viewAs(Int32Array, this.bytes);
      case 'U32': return viewAs(Uint32Array, this.bytes);
      case 'I16': return viewAs(Int16Array, this.bytes);
      case 'U16': return viewAs(Uint16Array, this.bytes);
      case 'I8': return viewAs(Int8Array, this.bytes);
      case 'U8': case 'BOOL': return this.bytes;
      default: throw new SafetensorsError(`${what}: no conversion to a JavaScript typed array for ${this.dtype}`);
    }
  }

  /** The values as float32 (a view for aligned F32, a converted copy otherwise). */
  toFloat32(): Float32Array {
    const values = this.values();
    return values instanceof Float32Array ? values : Float32Array.from(values);
  }
}

export interface ParsedSafetensors {
  /** `__metadata__`, or null when the header has none. */
  metadata: Record<string, string> | null;
  /** By data offset, as stored. */
  tensors: Map<string, SafeTensorInfo>;
  /** Bytes of the JSON header (padding included), not counting the 8-byte length. */
  headerLength: number;
}

/** A header read alone (the tensors' bytes not read yet): every rule checked against the file's size. */
export interface SafetensorsHeader {
  metadata: Record<string, string> | null;
  /** By data offset, as stored. */
  tensors: Map<string, SafeTensorEntry>;
  /** Bytes of the JSON header (padding included), not counting the 8-byte length. */
  headerLength: number;
  /** Where the data section starts in the file: 8 + headerLength. */
  dataStart: number;
}

/** Reads a whole safetensors file, strictly; the tensors are views of `bytes`. */
export function parseSafetensors(bytes: Uint8Array): ParsedSafetensors {
  const n = safetensorsHeaderLength(bytes.subarray(0, 8), bytes.byteLength);
  const { metadata, tensors: entries, dataStart } = parseSafetensorsHeader(bytes.subarray(8, 8 + n), bytes.byteLength);
  const tensors = new Map<string, SafeTensorInfo>();
  for (const [name, e] of entries) {
    const view = bytes.subarray(dataStart + e.dataOffsets[0], dataStart + e.dataOffsets[1]);
    tensors.set(name, new SafeTensorInfo(name, e.dtype, e.shape, e.dataOffsets, view));
  }
  return { metadata, tensors, headerLength: n };
}

/**
 * The header's length from a file's first 8 bytes (fewer when the file is shorter), checked against
 * the reference's limit and the file's size: the first step of reading a file by byte ranges.
 */
export function safetensorsHeaderLength(first: Uint8Array, fileSize: number): number {
  if (fileSize < 8 || first.byteLength < 8) {
    throw new SafetensorsError(`file is ${fileSize} bytes, too short for the 8-byte header length`);
  }
  const declared = new DataView(first.buffer, first.byteOffset, 8).getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(`header length ${declared} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  }
  const n = Number(declared);
  if (8 + n > fileSize) {
    throw new SafetensorsError(`header length ${n} runs past the end of the file (${fileSize} bytes)`);
  }
  return n;
}

/**
 * The JSON header (the `headerLength` bytes after the first 8), strictly, against the size of the
 * whole file: tensors contiguous from 0 to the file's end, each holding exactly its shape's bytes.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number): SafetensorsHeader {
  const n = headerBytes.byteLength;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw new SafetensorsError("header must be a JSON object starting with '{'");
  let header: JsonValue;
  try {
    header = parseStrictJson(text);
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (!(header instanceof Map)) throw new SafetensorsError('header must be a JSON object');

  let metadata: Record<string, string> | null = null;
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: bigint; end: bigint }[] = [];
  for (const [name, value] of header) {
    if (name === METADATA_KEY) metadata = readMetadata(value);
    else entries.push({ name, ...readTensorEntry(name, value) });
  }
  // The reference sorts by (begin, end) and then demands contiguity; writers may list in any order.
  entries.sort((a, b) => (a.begin !== b.begin ? (a.begin < b.begin ? -1 : 1) : a.end < b.end ? -1 : a.end > b.end ? 1 : 0));

  const dataStart = 8 + n;
  const dataLength = BigInt(fileSize - dataStart);
  const tensors = new Map<string, SafeTensorEntry>();
  let expectedBegin = 0n;
  for (const { name, dtype, shape, begin, end } of entries) {
    if (end < begin) throw new SafetensorsError(`tensor '${name}': data_offsets end ${end} is before begin ${begin}`);
    if (begin !== expectedBegin) {
      const what = begin > expectedBegin ? 'a hole' : 'an overlap';
      throw new SafetensorsError(
        `tensor '${name}': data_offsets [${begin}, ${end}] are not contiguous (expected begin ${expectedBegin}; ${what})`);
    }
    expectedBegin = end;
    let elements = 1n;
    for (const d of shape) {
      elements *= BigInt(d);
      if (elements > USIZE_MAX) throw new SafetensorsError(`tensor '${name}': shape [${shape}] overflows the element count`);
    }
    const bits = elements * BigInt(DTYPE_BITS[dtype]);
    if (bits > USIZE_MAX) throw new SafetensorsError(`tensor '${name}': shape [${shape}] x ${dtype} overflows the byte size`);
    if (bits % 8n !== 0n) {
      throw new SafetensorsError(`tensor '${name}': ${elements} elements of ${dtype} do not fill whole bytes`);
    }
    if (end - begin !== bits / 8n) {
      throw new SafetensorsError(
        `tensor '${name}': data_offsets [${begin}, ${end}] hold ${end - begin} bytes but shape [${shape}] x ${dtype} needs ${bits / 8n}`);
    }
    if (end > dataLength) {
      throw new SafetensorsError(
        `tensor '${name}': data_offsets end ${end} is past the end of the data (${dataLength} bytes; file truncated?)`);
    }
    tensors.set(name, { name, dtype, shape, dataOffsets: [Number(begin), Number(end)] });
  }
  if (expectedBegin !== dataLength) {
    throw new SafetensorsError(
      `${dataLength - expectedBegin} trailing bytes after the last tensor (data ends at ${expectedBegin}, file has ${dataLength})`);
  }
  return { metadata, tensors, headerLength: n, dataStart };
}

function readMetadata(value: JsonValue): Record<string, string> {
  if (!(value instanceof Map)) throw new SafetensorsError(`${METADATA_KEY} must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [key, v] of value) {
    if (typeof v !== 'string') throw new SafetensorsError(`${METADATA_KEY}['${key}'] must be a string`);
    out[key] = v;
  }
  return out;
}

function readTensorEntry(name: string, value: JsonValue):
  { dtype: SafetensorsDtype; shape: number[]; begin: bigint; end: bigint } {
  if (!(value instanceof Map)) throw new SafetensorsError(`tensor '${name}': entry must be an object`);
  const field = (key: string): JsonValue => {
    if (!value.has(key)) throw new SafetensorsError(`tensor '${name}': missing '${key}'`);
    return value.get(key) as JsonValue;
  };
  const dtype = field('dtype');
  if (typeof dtype !== 'string') throw new SafetensorsError(`tensor '${name}': dtype must be a string`);
  if (!isSafetensorsDtype(dtype)) throw new SafetensorsError(`tensor '${name}': unknown dtype '${dtype}'`);
  const shapeValue = field('shape');
  if (!Array.isArray(shapeValue)) throw new SafetensorsError(`tensor '${name}': shape must be an array`);
  const shape = shapeValue.map((d, i) => {
    const v = readUsize(name, `shape[${i}]`, d);
    // A dimension past 2^53 cannot be a real tensor; the overflow rule would reject it anyway.
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new SafetensorsError(`tensor '${name}': shape [${shapeValue.map(textOf)}] overflows the element count`);
    return Number(v);
  });
  const offsets = field('data_offsets');
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw new SafetensorsError(`tensor '${name}': data_offsets must be an array [begin, end]`);
  }
  return {
    dtype, shape,
    begin: readUsize(name, 'data_offsets[0]', offsets[0]),
    end: readUsize(name, 'data_offsets[1]', offsets[1]),
  };
}

function textOf(v: JsonValue): string {
  return v instanceof JsonNumber ? v.text : JSON.stringify(v);
}

/** A JSON integer in [0, 2^64): what serde reads into a usize. */
function readUsize(name: string, what: string, v: JsonValue): bigint {
  if (!(v instanceof JsonNumber)) {
    throw new SafetensorsError(`tensor '${name}': ${what} must be a non-negative integer, got ${textOf(v)}`);
  }
  if (v.text.startsWith('-')) throw new SafetensorsError(`tensor '${name}': ${what} is negative (${v.text})`);
  if (!/^[0-9]+$/.test(v.text)) throw new SafetensorsError(`tensor '${name}': ${what} is not an integer (${v.text})`);
  const value = BigInt(v.text);
  if (value > USIZE_MAX) throw new SafetensorsError(`tensor '${name}': ${what} = ${v.text} does not fit in 64 bits`);
  return value;
}

const encoder = new TextEncoder();

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** A tensor to write: its raw little-endian bytes (any typed array) with dtype and shape. */
export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  data: ArrayBufferView;
}

/**
 * Writes a safetensors file as the reference does: tensors ordered by descending dtype alignment,
 * then name; `__metadata__` first; the header padded with spaces to a multiple of 8 so every
 * tensor starts aligned.
 */
export function serializeSafetensors(
  tensors: Map<string, SafetensorsEntry> | Record<string, SafetensorsEntry>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = new Map(tensors instanceof Map ? tensors : Object.entries(tensors));
  for (const [name, { dtype, shape, data }] of list) {
    const needed = isSafetensorsDtype(dtype) && shape.every((d) => Number.isSafeInteger(d) && d >= 0)
      ? shape.reduce((a, b) => a * b, 1) * DTYPE_BITS[dtype] / 8 : data.byteLength;
    if (needed !== data.byteLength) {
      throw new SafetensorsError(`tensor '${name}': ${data.byteLength} bytes of data but shape [${shape}] x ${dtype} needs ${needed}`);
    }
  }
  const { header, order, dataBytes } = safetensorsLayout(list, metadata);
  const out = new Uint8Array(header.byteLength + dataBytes);
  out.set(header);
  for (const { name, begin } of order) {
    const { data } = list.get(name)!;
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), header.byteLength + begin);
  }
  return out;
}

/**
 * Where a file of these tensors puts each one (as serializeSafetensors writes it) and its first bytes
 * (the 8-byte length and the padded header), so a large file can be written tensor by tensor.
 */
export function safetensorsLayout(
  tensors: Map<string, Pick<SafetensorsEntry, 'dtype' | 'shape'>>, metadata?: Record<string, string>,
): { header: Uint8Array; order: { name: string; begin: number; end: number }[]; dataBytes: number } {
  const list = [...tensors];
  const bytes = new Map<string, number>();
  for (const [name, { dtype, shape }] of list) {
    if (name === METADATA_KEY) throw new SafetensorsError(`'${METADATA_KEY}' cannot be a tensor name`);
    if (!isSafetensorsDtype(dtype)) throw new SafetensorsError(`tensor '${name}': unknown dtype '${dtype}'`);
    for (const d of shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new SafetensorsError(`tensor '${name}': bad dimension ${d} in shape [${shape}]`);
    }
    const bits = shape.reduce((a, b) => a * b, 1) * DTYPE_BITS[dtype];
    if (bits % 8 !== 0) throw new SafetensorsError(`tensor '${name}': shape [${shape}] x ${dtype} does not fill whole bytes`);
    bytes.set(name, bits / 8);
  }
  // Names compare as UTF-8 bytes, as Rust's strings do (JS compares UTF-16 units).
  const rank = (d: SafetensorsDtype) => DTYPE_ORDER.indexOf(d);
  const utf8 = new Map(list.map(([name]) => [name, encoder.encode(name)]));
  list.sort(([an, a], [bn, b]) => rank(b.dtype) - rank(a.dtype) || compareBytes(utf8.get(an)!, utf8.get(bn)!));

  // Pairs, not an object: JS would move integer-like keys (a tensor named "0") to the front.
  const entries: [string, string][] = [];
  if (metadata != null) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`${METADATA_KEY}['${k}'] must be a string`);
    }
    const sorted = Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    entries.push([METADATA_KEY, `{${sorted.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`]);
  }
  const order: { name: string; begin: number; end: number }[] = [];
  let offset = 0;
  for (const [name, { dtype, shape }] of list) {
    const end = offset + bytes.get(name)!;
    entries.push([name, JSON.stringify({ dtype, shape, data_offsets: [offset, end] })]);
    order.push({ name, begin: offset, end });
    offset = end;
  }
  const json = encoder.encode(`{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`);
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const header = new Uint8Array(8 + padded);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(json, 8);
  header.fill(0x20, 8 + json.byteLength);
  return { header, order, dataBytes: offset };
}
