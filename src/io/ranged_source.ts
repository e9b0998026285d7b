/**
 * Reading checkpoint files by byte ranges (the RangeReader of checkpoint_source.ts): a local file
 * through one fs handle read at positions, an http(s) file through `Range` requests where the server
 * honours them, and any other source (or a server that ignores `Range`) read whole once and sliced.
 * Progress counts the bytes actually read, so tensors that are skipped never count.
 */
import { type CheckpointSource, isAbsentFile, type ProgressCallback, type RangeReader, SourceFileNotFoundError } from './checkpoint_source.js';
import { DownloadTimeoutError, timedFetch, type TimedResponse } from './timed_fetch.js';

/** Bytes read from disk at once: progress comes at least this often. */
const CHUNK_BYTES = 16 * 1024 * 1024;

/** The file by ranges where the source can, else read whole. */
export async function openRange(source: CheckpointSource, file: string, onProgress?: ProgressCallback): Promise<RangeReader> {
  if (source.openRange != null) return source.openRange(file, onProgress);
  return wholeFileReader(await source.read(file, onProgress));
}

/** As openRange, null when the source does not have the file. */
export async function openRangeOptional(
  source: CheckpointSource, file: string, onProgress?: ProgressCallback,
): Promise<RangeReader | null> {
  try {
    return await openRange(source, file, onProgress);
  } catch (e) {
    if (isAbsentFile(e)) return null;
    throw e;
  }
}

/** A file already in memory: ranges are views of it. */
export function wholeFileReader(bytes: Uint8Array): RangeReader {
  return {
    size: bytes.byteLength,
    read: (offset, length) => {
      checkRange(offset, length, bytes.byteLength, 'the file');
      return Promise.resolve(bytes.subarray(offset, offset + length));
    },
    close: () => Promise.resolve(),
  };
}

function checkRange(offset: number, length: number, size: number, where: string): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new Error(`bytes [${offset}, ${offset + length}) are outside ${where} (${size} bytes)`);
  }
}

/** Allocation of a read buffer, with a clear error where the size cannot be held. */
export function allocate(size: number, where: string): Uint8Array {
  try {
    return new Uint8Array(size);
  } catch {
    throw new Error(`cannot allocate ${size} bytes to read ${where}`);
  }
}

/** A local file (`full` its path, `file` its name in the source, for progress). */
export async function openLocalRange(full: string, file: string, onProgress?: ProgressCallback): Promise<RangeReader> {
  const fs = await import('node:fs/promises');
  const handle = await fs.open(full, 'r').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') throw new SourceFileNotFoundError(file, full);
    throw e;
  });
  let size: number;
  try {
    ({ size } = await handle.stat());
  } catch (e) {
    await handle.close();
    throw e;
  }
  let loaded = 0;
  onProgress?.({ file, loaded, total: size });
  return {
    size,
    async read(offset, length) {
      checkRange(offset, length, size, full);
      const out = allocate(length, full);
      for (let at = 0; at < length;) {
        const { bytesRead } = await handle.read(out, at, Math.min(CHUNK_BYTES, length - at), offset + at);
        if (bytesRead === 0) throw new Error(`${full} shrank while being read (${offset + at} of ${size} bytes)`);
        at += bytesRead;
        loaded += bytesRead;
        onProgress?.({ file, loaded, total: size });
      }
      return out;
    },
    close: () => handle.close(),
  };
}

/**
 * An http(s) file by `Range` requests. A first request for one byte asks whether the server honours
 * ranges (206 with a Content-Range naming the size); any other answer (200 with the whole body, a
 * 404, a failure) goes to `readWhole`, the source's ordinary read, which reports it as it always does.
 * Every wait for bytes has the read timeout `timeoutMs`, as the whole read's does.
 */
export async function openHttpRange(
  url: string, file: string, headers: Record<string, string>, timeoutMs: number, readWhole: () => Promise<Uint8Array>,
  onProgress?: ProgressCallback,
): Promise<RangeReader> {
  // Ranges apply to the encoded body; ask for none.
  const rangeHeaders = (first: number, last: number) => ({ ...headers, range: `bytes=${first}-${last}`, 'accept-encoding': 'identity' });
  let size: number | null = null;
  try {
    const probe = await timedFetch(url, { headers: rangeHeaders(0, 0) }, timeoutMs);
    size = probe.response.status === 206 && isIdentity(probe.response) ? contentRange(probe.response)?.size ?? null : null;
    probe.cancel();
  } catch (e) {
    if (e instanceof DownloadTimeoutError) throw e;   // the whole read would wait as long again
    size = null;
  }
  if (size == null) return wholeFileReader(await readWhole());

  const total = size;
  let loaded = 0;
  onProgress?.({ file, loaded, total });
  return {
    size: total,
    async read(offset, length) {
      checkRange(offset, length, total, url);
      if (length === 0) return new Uint8Array(0);
      const last = offset + length - 1;
      const what = `GET ${url} (bytes ${offset}-${last})`;
      let timed: TimedResponse;
      try {
        timed = await timedFetch(url, { headers: rangeHeaders(offset, last) }, timeoutMs);
      } catch (e) {
        if (e instanceof DownloadTimeoutError) throw e;
        throw new Error(`${what} failed: ${(e as Error).message}`);
      }
      const { response } = timed;
      const range = response.status === 206 && isIdentity(response) ? contentRange(response) : null;
      if (range == null || range.first !== offset || range.last !== last || range.size !== total) {
        timed.cancel();
        const got = response.headers.get('content-range');
        throw new Error(`${what}: expected 206 for bytes ${offset}-${last}/${total}, got HTTP ${response.status}`
          + `${got == null ? '' : ` with Content-Range ${got}`} (did the file change on the server?)`);
      }
      const body = allocate(length, url);
      let at = 0;
      try {
        for await (const chunk of timed.chunks()) {
          if (at + chunk.byteLength > length) throw new Error(`more than the ${length} bytes asked for`);
          body.set(chunk, at);
          at += chunk.byteLength;
        }
      } catch (e) {
        if (e instanceof DownloadTimeoutError) throw e;
        throw new Error(`truncated response from ${url} (bytes ${offset}-${last}): ${(e as Error).message}`);
      }
      if (at !== length) {
        throw new Error(`truncated response from ${url} (bytes ${offset}-${last}): got ${at} of ${length} bytes`);
      }
      loaded += length;
      onProgress?.({ file, loaded, total });
      return body;
    },
    close: () => Promise.resolve(),
  };
}

function isIdentity(response: Response): boolean {
  return (response.headers.get('content-encoding') ?? 'identity') === 'identity';
}

/** `Content-Range: bytes first-last/size`, or null when absent or of another form. */
function contentRange(response: Response): { first: number; last: number; size: number } | null {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
  if (match == null) return null;
  const [first, last, size] = match.slice(1).map(Number);
  return Number.isSafeInteger(size) && first <= last && last < size ? { first, last, size } : null;
}
