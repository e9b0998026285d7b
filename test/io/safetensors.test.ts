import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { wholeFileReader } from '../../src/io/ranged_source.js';
import { SafetensorsFile } from '../../src/io/safetensors_file.js';
import {
  MAX_HEADER_BYTES, SafetensorsError, parseSafetensors, serializeSafetensors, type SafetensorsEntry,
} from '../../src/io/safetensors.js';

const encoder = new TextEncoder();

/** A file from a header text (or object) and data, with the length field overridable. */
function build(header: string | object, data: Uint8Array | number = 0, declared?: bigint): Uint8Array {
  const text = encoder.encode(typeof header === 'string' ? header : JSON.stringify(header));
  const bytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + text.byteLength + bytes.byteLength);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(text.byteLength), true);
  out.set(text, 8);
  out.set(bytes, 8 + text.byteLength);
  return out;
}

function withByte(bytes: Uint8Array, at: number, value: number): Uint8Array {
  bytes[at] = value;
  return bytes;
}

const f32 = (name: string, shape: (number | string)[], offsets: (number | string)[]) =>
  `"${name}":{"dtype":"F32","shape":[${shape}],"data_offsets":[${offsets}]}`;

/** The same file through SafetensorsFile (8 bytes, then the header alone) must fail with the same message. */
async function expectRangedRejected(bytes: Uint8Array, message: RegExp): Promise<void> {
  let error: unknown = null;
  try {
    await SafetensorsFile.open(wholeFileReader(bytes));
  } catch (e) {
    error = e;
  }
  expect(error, `expected ${message} by ranges`).to.be.instanceOf(SafetensorsError);
  expect((error as Error).message).to.match(message);
}

function expectRejected(bytes: Uint8Array, message: RegExp): void {
  let error: unknown = null;
  try {
    parseSafetensors(bytes);
  } catch (e) {
    error = e;
  }
  expect(error, `expected ${message}`).to.be.instanceOf(SafetensorsError);
  expect((error as Error).message).to.match(message);
}

describe('safetensors reader', () => {
  it('reads the tiny fixture: metadata, names, dtypes, shapes, views into the file', () => {
    const bytes = new Uint8Array(readFileSync('test/fixtures/tiny/model.safetensors'));
    const parsed = parseSafetensors(bytes);
    expect(parsed.metadata).to.deep.equal({ format: 'pt' });
    expect(parsed.tensors.size).to.equal(22);
    const emb = parsed.tensors.get('backbone.embeddings.weight')!;
    expect(emb.dtype).to.equal('F32');
    expect(emb.shape).to.deep.equal([96, 32]);
    const values = emb.toFloat32();
    expect(values.buffer).to.equal(bytes.buffer);
    expect(values.length).to.equal(96 * 32);
  });

  for (const dir of ['tiny', 'tiny-float16', 'tiny-bfloat16', 'tiny-sharded/model-00001-of-00003']) {
    const file = dir.includes('/') ? `test/fixtures/${dir}.safetensors` : `test/fixtures/${dir}/model.safetensors`;
    it(`writes ${file} back byte for byte as Python's safetensors wrote it`, () => {
      const bytes = new Uint8Array(readFileSync(file));
      const parsed = parseSafetensors(bytes);
      const entries = new Map([...parsed.tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, data: t.bytes }]));
      expect(Buffer.from(serializeSafetensors(entries, parsed.metadata ?? undefined)).equals(Buffer.from(bytes))).to.equal(true);
    });
  }

  it('converts every dtype it supports to a typed array', () => {
    const entries: Record<string, SafetensorsEntry> = {
      f32: { dtype: 'F32', shape: [3], data: new Float32Array([1.5, -2, 3e-8]) },
      f64: { dtype: 'F64', shape: [2], data: new Float64Array([0.1, -1e300]) },
      f16: { dtype: 'F16', shape: [4], data: new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7c00]) },
      bf16: { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xc0a0]) },
      i64: { dtype: 'I64', shape: [3], data: new BigInt64Array([-2147483648n, 0n, 2147483647n]) },
      u64: { dtype: 'U64', shape: [1], data: new BigUint64Array([7n]) },
      i32: { dtype: 'I32', shape: [2], data: new Int32Array([-5, 6]) },
      u32: { dtype: 'U32', shape: [1], data: new Uint32Array([4000000000]) },
      i16: { dtype: 'I16', shape: [2], data: new Int16Array([-300, 300]) },
      u16: { dtype: 'U16', shape: [1], data: new Uint16Array([65535]) },
      i8: { dtype: 'I8', shape: [2], data: new Int8Array([-128, 127]) },
      u8: { dtype: 'U8', shape: [2, 1], data: new Uint8Array([0, 255]) },
      bool: { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
      scalar: { dtype: 'F32', shape: [], data: new Float32Array([42]) },
      empty: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
    };
    const t = parseSafetensors(serializeSafetensors(entries)).tensors;
    const values = (name: string) => Array.from(t.get(name)!.values() as ArrayLike<number>);
    expect(values('f32')).to.deep.equal([1.5, -2, Math.fround(3e-8)]);
    expect(values('f64')).to.deep.equal([Math.fround(0.1), -Infinity]);
    expect(values('f16')).to.deep.equal([1, -2, 2 ** -24, Infinity]);
    expect(values('bf16')).to.deep.equal([1, -5]);
    expect(t.get('i64')!.values()).to.be.instanceOf(Int32Array);
    expect(values('i64')).to.deep.equal([-2147483648, 0, 2147483647]);
    expect(values('u64')).to.deep.equal([7]);
    expect(values('i32')).to.deep.equal([-5, 6]);
    expect(values('u32')).to.deep.equal([4000000000]);
    expect(values('i16')).to.deep.equal([-300, 300]);
    expect(values('u16')).to.deep.equal([65535]);
    expect(values('i8')).to.deep.equal([-128, 127]);
    expect(values('u8')).to.deep.equal([0, 255]);
    expect(values('bool')).to.deep.equal([1, 0]);
    expect(values('scalar')).to.deep.equal([42]);
    expect(values('empty')).to.deep.equal([]);
    expect(Array.from(t.get('i16')!.toFloat32())).to.deep.equal([-300, 300]);
  });

  it('rejects an I64 value outside int32 instead of wrapping it', () => {
    const bytes = serializeSafetensors({ big: { dtype: 'I64', shape: [2], data: new BigInt64Array([1n, 2n ** 31n]) } });
    expect(() => parseSafetensors(bytes).tensors.get('big')!.values()).to.throw(/element 1 = 2147483648 does not fit in int32/);
  });

  it('names the dtypes it cannot convert', () => {
    const bytes = serializeSafetensors({ q: { dtype: 'F8_E4M3', shape: [2], data: new Uint8Array(2) } });
    const info = parseSafetensors(bytes).tensors.get('q')!;
    expect(info.bytes.byteLength).to.equal(2);
    expect(() => info.values()).to.throw(/no conversion .* for F8_E4M3/);
  });

  it('views aligned data and copies unaligned data', () => {
    // Pad the header so the data starts one byte past a multiple of 4: not aligned for F32.
    const text = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    const header = text.padEnd(text.length + ((1 - ((8 + text.length) % 4)) + 4) % 4);
    expect((8 + header.length) % 4).to.equal(1);
    const unaligned = build(header, new Uint8Array(new Float32Array([2.5]).buffer));
    const info = parseSafetensors(unaligned).tensors.get('a')!;
    const values = info.toFloat32();
    expect(values[0]).to.equal(2.5);
    expect(values.buffer).to.not.equal(unaligned.buffer);
    const aligned = serializeSafetensors({ a: { dtype: 'F32', shape: [1], data: new Float32Array([2.5]) } });
    expect(parseSafetensors(aligned).tensors.get('a')!.toFloat32().buffer).to.equal(aligned.buffer);
    // A view of the file that does not start at its buffer's start is still read in place when aligned.
    const shifted = new Uint8Array(aligned.byteLength + 8);
    shifted.set(aligned, 8);
    const view = parseSafetensors(shifted.subarray(8)).tensors.get('a')!.toFloat32();
    expect(view.buffer).to.equal(shifted.buffer);
    expect(view[0]).to.equal(2.5);
  });

  it('accepts tensors listed in any order and sorts them by offset', () => {
    const header = `{${f32('b', [1], [4, 8])},${f32('a', [1], [0, 4])}}`;
    const parsed = parseSafetensors(build(header, new Uint8Array(new Float32Array([1, 2]).buffer)));
    expect([...parsed.tensors.keys()]).to.deep.equal(['a', 'b']);
    expect(parsed.tensors.get('b')!.toFloat32()[0]).to.equal(2);
  });

  it('accepts an empty header object and metadata-only files', () => {
    expect(parseSafetensors(build('{}')).tensors.size).to.equal(0);
    expect(parseSafetensors(build('{"__metadata__":{"k":"v"}}')).metadata).to.deep.equal({ k: 'v' });
  });
});

describe('safetensors writer', () => {
  it('writes the reference layout: padded header, __metadata__ first, descending dtype then name', () => {
    const bytes = serializeSafetensors({
      z8: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
      b32: { dtype: 'F32', shape: [1], data: new Float32Array([1]) },
      a32: { dtype: 'F32', shape: [1], data: new Float32Array([2]) },
      d64: { dtype: 'F64', shape: [1], data: new Float64Array([3]) },
      0: { dtype: 'F16', shape: [1], data: new Uint16Array([0x3c00]) },
    }, { format: 'pt', another: 'x' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).to.equal(0);
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(header.trimEnd()).to.equal(
      '{"__metadata__":{"another":"x","format":"pt"},' +
      '"d64":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},' +
      '"a32":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},' +
      '"b32":{"dtype":"F32","shape":[1],"data_offsets":[12,16]},' +
      '"0":{"dtype":"F16","shape":[1],"data_offsets":[16,18]},' +
      '"z8":{"dtype":"U8","shape":[3],"data_offsets":[18,21]}}');
    expect(header.slice(header.trimEnd().length)).to.match(/^ *$/);
    const parsed = parseSafetensors(bytes);
    expect(parsed.tensors.get('a32')!.toFloat32()[0]).to.equal(2);
    expect(Array.from(parsed.tensors.get('z8')!.bytes)).to.deep.equal([1, 2, 3]);
  });

  it('orders names by their UTF-8 bytes, as Rust does', () => {
    const one = new Uint8Array([1]);
    const bytes = serializeSafetensors({ '\u{1F600}': { dtype: 'U8', shape: [1], data: one }, '\uFF5E': { dtype: 'U8', shape: [1], data: one } });
    expect([...parseSafetensors(bytes).tensors.keys()]).to.deep.equal(['\uFF5E', '\u{1F600}']);
  });

  it('matches the reference serializer byte for byte (its own test vector)', () => {
    const bytes = serializeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) } });
    const expected = new Uint8Array(8 + 64 + 24);
    new DataView(expected.buffer).setBigUint64(0, 64n, true);
    expected.set(encoder.encode('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'), 8);
    expected.set(new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer), 72);
    expect(Array.from(bytes)).to.deep.equal(Array.from(expected));
    expect(Array.from(serializeSafetensors({}))).to.deep.equal([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
  });

  it('refuses data that does not match shape x dtype, and a tensor named __metadata__', () => {
    expect(() => serializeSafetensors({ a: { dtype: 'F32', shape: [2], data: new Float32Array(3) } }))
      .to.throw(/12 bytes of data but shape \[2\] x F32 needs 8/);
    expect(() => serializeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }))
      .to.throw(/cannot be a tensor name/);
    expect(() => serializeSafetensors({ a: { dtype: 'U8', shape: [-1], data: new Uint8Array(0) } }))
      .to.throw(/bad dimension -1/);
  });
});

describe('safetensors reader rejects malformed files', () => {
  const four = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
  const cases: [string, Uint8Array, RegExp][] = [
    ['an empty file', new Uint8Array(0), /file is 0 bytes, too short for the 8-byte header length/],
    ['a 7-byte file', new Uint8Array(7), /file is 7 bytes, too short/],
    ['a header length of 2^63', build('{}', 0, 2n ** 63n), /header length 9223372036854775808 exceeds the limit of 100000000 bytes/],
    ['a header length of 2^64-1', build('{}', 0, 2n ** 64n - 1n), /header length 18446744073709551615 exceeds the limit/],
    ['a header just over 100 MB', build('{}', 0, BigInt(MAX_HEADER_BYTES) + 1n), /header length 100000001 exceeds the limit/],
    ['a header length past the end', build('{}', 0, 1000n), /header length 1000 runs past the end of the file \(10 bytes\)/],
    ['a file cut inside the header', build('{"a":1}').subarray(0, 12), /header length 7 runs past the end of the file \(12 bytes\)/],
    ['invalid UTF-8', withByte(build('{"a":{}}'), 10, 0xff), /header is not valid UTF-8/],
    ['a truncated UTF-8 sequence', withByte(build('{"a":{}}'), 10, 0xc3), /header is not valid UTF-8/],
    ['a header that is an array', build('[]'), /header must be a JSON object starting with '\{'/],
    ['a header with leading whitespace', build(' {}'), /starting with '\{'/],
    ['an empty header', build(''), /starting with '\{'/],
    ['invalid JSON', build('{"a":'), /header is not valid JSON: unexpected end of input/],
    ['text after the JSON', build('{} x'), /header is not valid JSON: unexpected text after the JSON value/],
    ['a duplicate tensor name', build(`{${f32('a', [1], [0, 4])},${f32('a', [1], [0, 4])}}`, 4), /duplicate key "a"/],
    ['a duplicate field in an entry', build('{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4), /duplicate key "dtype"/],
    ['an unknown dtype', build('{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}', 16), /tensor 'a': unknown dtype 'F128'/],
    ['a dtype that is not a string', build('{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}', 4), /dtype must be a string/],
    ['a missing shape', build('{"a":{"dtype":"F32","data_offsets":[0,4]}}', 4), /tensor 'a': missing 'shape'/],
    ['missing data_offsets', build('{"a":{"dtype":"F32","shape":[1]}}', 4), /tensor 'a': missing 'data_offsets'/],
    ['an entry that is not an object', build('{"a":[1,2]}'), /tensor 'a': entry must be an object/],
    ['non-string metadata', build('{"__metadata__":{"k":1}}'), /__metadata__\['k'\] must be a string/],
    ['metadata that is not an object', build('{"__metadata__":"x"}'), /__metadata__ must be an object of strings/],
    ['a negative dimension', build(`{${f32('a', [-1], [0, 4])}}`, 4), /tensor 'a': shape\[0\] is negative \(-1\)/],
    ['a fractional dimension', build(`{${f32('a', [1.5], [0, 4])}}`, 4), /tensor 'a': shape\[0\] is not an integer \(1.5\)/],
    ['a dimension in exponent form', build('{"a":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}', 4), /shape\[0\] is not an integer \(1e0\)/],
    ['a dimension that is a string', build('{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}', 4), /shape\[0\] must be a non-negative integer, got "1"/],
    ['a negative offset', build(`{${f32('a', [1], [-4, 0])}}`, 4), /data_offsets\[0\] is negative \(-4\)/],
    ['a fractional offset', build(`{${f32('a', [1], [0, '4.0'])}}`, 4), /data_offsets\[1\] is not an integer \(4.0\)/],
    ['an offset past 2^64', build(`{${f32('a', [1], [0, '18446744073709551616'])}}`, 4), /data_offsets\[1\] = 18446744073709551616 does not fit in 64 bits/],
    ['three offsets', build(`{${f32('a', [1], [0, 4, 8])}}`, 4), /data_offsets must be an array \[begin, end\]/],
    ['data that does not start at 0', build(`{${f32('a', [1], [4, 8])}}`, 8), /tensor 'a': data_offsets \[4, 8\] are not contiguous \(expected begin 0; a hole\)/],
    ['a hole between tensors', build(`{${f32('a', [1], [0, 4])},${f32('b', [1], [8, 12])}}`, 12), /tensor 'b': .* not contiguous \(expected begin 4; a hole\)/],
    ['overlapping tensors', build(`{${f32('a', [2], [0, 8])},${f32('b', [2], [4, 12])}}`, 12), /tensor 'b': .* not contiguous \(expected begin 8; an overlap\)/],
    ['two tensors on the same bytes', build(`{${f32('a', [1], [0, 4])},${f32('b', [1], [0, 4])}}`, 4), /not contiguous \(expected begin 4; an overlap\)/],
    ['an end before its begin', build(`{${f32('a', [1], [0, 4])},${f32('b', [1], [4, 0])}}`, 4), /data_offsets end 0 is before begin 4/],
    ['a byte size not matching shape x dtype', build(`{${f32('a', [2, 2], [0, 12])}}`, 12), /tensor 'a': data_offsets \[0, 12\] hold 12 bytes but shape \[2,2\] x F32 needs 16/],
    ['an element count overflowing 64 bits', build(`{${f32('a', [2 ** 32, 2 ** 32, 2], [0, 4])}}`, 4), /tensor 'a': shape \[4294967296,4294967296,2\] overflows the element count/],
    ['a byte size overflowing 64 bits', build(`{${f32('a', [2 ** 31, 2 ** 31], [0, 4])}}`, 4), /shape \[2147483648,2147483648\] x F32 overflows the byte size/],
    ['a dimension past 2^53', build(`{${f32('a', ['9007199254740993'], [0, 4])}}`, 4), /overflows the element count/],
    ['F4 data that does not fill a byte', build('{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}', 2), /3 elements of F4 do not fill whole bytes/],
    ['trailing bytes', build(`{${f32('a', [1], [0, 4])}}`, 5), /1 trailing bytes after the last tensor \(data ends at 4, file has 5\)/],
    ['a truncated data section', build(`{${f32('a', [4], [0, 16])}}`, four.subarray(0, 10)), /tensor 'a': data_offsets end 16 is past the end of the data \(10 bytes; file truncated\?\)/],
    ['a huge declared tensor', build(`{${f32('a', [2 ** 28], [0, 2 ** 30])}}`, 16), /data_offsets end 1073741824 is past the end of the data \(16 bytes/],
    ['a terabyte declared tensor', build(`{${f32('a', [2 ** 38], [0, 2 ** 40])}}`, 16), /past the end of the data/],
    ['nesting deeper than 128', build(`{"a":${'['.repeat(200)}${']'.repeat(200)}}`), /nesting deeper than 128 levels/],
    ['a lone surrogate escape', build('{"\\ud800":{}}'), /lone high surrogate/],
    ['a control character in a name', build('{"a\u0001":{}}'), /control character in string/],
    ['a bad escape', build('{"a\\q":{}}'), /invalid escape/],
  ];

  it(`has at least 25 cases (${cases.length})`, () => expect(cases.length).to.be.at.least(25));

  for (const [what, bytes, message] of cases) {
    it(`rejects ${what}, read whole or by ranges (header alone)`, async function () {
      this.timeout(2000);
      const before = process.memoryUsage().arrayBuffers;
      expectRejected(bytes, message);
      await expectRangedRejected(bytes, message);
      // Nothing the size of a declared tensor or header may have been allocated.
      expect(process.memoryUsage().arrayBuffers - before).to.be.below(64 * 1024 * 1024);
    });
  }

  it('rejects every truncation of a valid file with a SafetensorsError, by ranges with the same message', async () => {
    const whole = serializeSafetensors({
      a: { dtype: 'F32', shape: [2, 3], data: new Float32Array(6).fill(1) },
      b: { dtype: 'BF16', shape: [5], data: new Uint16Array(5) },
    }, { format: 'pt' });
    expect(parseSafetensors(whole).tensors.size).to.equal(2);
    for (let n = 0; n < whole.byteLength; n++) {
      let message = '';
      expect(() => {
        try {
          parseSafetensors(whole.subarray(0, n));
        } catch (e) {
          message = (e as Error).message;
          throw e;
        }
      }, `first ${n} bytes`).to.throw(SafetensorsError);
      await expectRangedRejected(whole.subarray(0, n), new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    }
  });

  it('by ranges: the header alone, then each tensor\'s bytes equal the whole-file parse', async () => {
    const whole = serializeSafetensors({
      a: { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
      b: { dtype: 'BF16', shape: [5], data: new Uint16Array([1, 2, 3, 4, 5]) },
    }, { format: 'pt' });
    const parsed = parseSafetensors(whole);
    const reads: [number, number][] = [];
    const inner = wholeFileReader(whole);
    const file = await SafetensorsFile.open({ ...inner, read: (at, n) => { reads.push([at, n]); return inner.read(at, n); } });
    expect(reads).to.deep.equal([[0, 8], [8, parsed.headerLength]]);
    expect(file.header.metadata).to.deep.equal(parsed.metadata);
    for (const [name, info] of parsed.tensors) {
      const read = await file.read(file.tensors.get(name)!);
      expect([read.dtype, read.shape, read.dataOffsets, [...read.bytes]]).to.deep.equal([info.dtype, info.shape, info.dataOffsets, [...info.bytes]]);
    }
    expect([...(await file.readElements(file.tensors.get('a')!, 2, 3)).toFloat32()]).to.deep.equal([3, 4, 5]);
  });
});
