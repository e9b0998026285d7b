/**
 * A safetensors file read by byte ranges: the 8-byte length and the header alone, under every rule
 * of safetensors.ts (the same parser and errors), then each tensor by its offsets when it is wanted.
 * A large checkpoint is so never held whole.
 */
import type { RangeReader } from './checkpoint_source.js';
import { DTYPE_BITS } from './dtypes.js';
import {
  SafeTensorInfo, SafetensorsError, parseSafetensorsHeader, safetensorsHeaderLength, type SafeTensorEntry,
  type SafetensorsHeader,
} from './safetensors.js';

export class SafetensorsFile {
  private constructor(readonly header: SafetensorsHeader, private readonly reader: RangeReader) {}

  /** Reads and checks the header; the reader is the file's from then on (close() closes it). */
  static async open(reader: RangeReader): Promise<SafetensorsFile> {
    const first = await reader.read(0, Math.min(8, reader.size));
    const n = safetensorsHeaderLength(first, reader.size);
    return new SafetensorsFile(parseSafetensorsHeader(await reader.read(8, n), reader.size), reader);
  }

  get tensors(): Map<string, SafeTensorEntry> {
    return this.header.tensors;
  }

  /** One tensor with its bytes, read now. */
  async read(entry: SafeTensorEntry): Promise<SafeTensorInfo> {
    const [begin, end] = entry.dataOffsets;
    return SafeTensorInfo.of(entry, await this.reader.read(this.header.dataStart + begin, end - begin));
  }

  /** Elements [first, first + count) of a tensor in its flat order, as a tensor [count] of their own. */
  async readElements(entry: SafeTensorEntry, first: number, count: number): Promise<SafeTensorInfo> {
    const bits = DTYPE_BITS[entry.dtype];
    if (bits % 8 !== 0) throw new SafetensorsError(`tensor '${entry.name}': ${entry.dtype} elements are not whole bytes`);
    const size = bits / 8;
    const begin = entry.dataOffsets[0] + first * size;
    const end = begin + count * size;
    if (first < 0 || count < 0 || end > entry.dataOffsets[1]) {
      throw new SafetensorsError(`tensor '${entry.name}': elements [${first}, ${first + count}) are outside it`);
    }
    const bytes = await this.reader.read(this.header.dataStart + begin, end - begin);
    return new SafeTensorInfo(entry.name, entry.dtype, [count], [begin, end], bytes);
  }

  close(): Promise<void> {
    return this.reader.close();
  }
}
