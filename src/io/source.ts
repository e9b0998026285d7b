/**
 * Where checkpoint files come from: a local folder or an http(s) base URL (Hub ids are resolved
 * by src/io/hub). Each file is read into one buffer of its final size, chunk by chunk, so a large
 * shard is held once and progress can be reported as it arrives, or by byte ranges (ranged_source.ts);
 * over HTTP every wait for bytes has the Hub's read timeout (`downloadTimeout`, `$HF_HUB_DOWNLOAD_TIMEOUT`, 30 s).
 */
import { recoverDir } from './atomic_dir.js';
import {
  type CheckpointSource, isAbsentFile, type ProgressCallback, type RangeReader, SourceFileNotFoundError,
} from './checkpoint_source.js';
import { openHubSource, resolveHubLimits, type HubDownloadOptions } from './hub.js';
import { allocate, openHttpRange, openLocalRange } from './ranged_source.js';
import { DownloadTimeoutError, timedFetch } from './timed_fetch.js';
import type { OptionTable } from '../options/normalize_options.js';

export {
  type CheckpointSource, type ProgressCallback, type RangeReader, type ReadProgress, SourceFileNotFoundError,
} from './checkpoint_source.js';

// Node's fs, path and url are imported where a local folder is opened, so that browsers can
// import this module and read over HTTP.
type Fs = typeof import('node:fs/promises');
type Path = typeof import('node:path');

/** `revision`, `cacheDir`, `localFilesOnly`, `token`, `endpoint`, `etagTimeout`, `maxRetries`: used for Hub ids only. `downloadTimeout` for URLs too. */
export interface OpenSourceOptions extends HubDownloadOptions {
  /** Sent with every HTTP request (an Authorization header, say). */
  headers?: Record<string, string>;
}

/** OpenSourceOptions' names, for normalizeOptions (snake_case as huggingface_hub writes them: cache_dir, local_files_only). */
export const OPEN_SOURCE_OPTIONS: OptionTable<OpenSourceOptions> = {
  revision: true, cacheDir: true, localFilesOnly: true, token: true, endpoint: true, onProgress: true,
  downloadTimeout: true, etagTimeout: true, maxRetries: true, headers: true,
};

/** Reads the file and returns null when the source does not have it. */
export async function readOptional(
  source: CheckpointSource, file: string, onProgress?: ProgressCallback,
): Promise<Uint8Array | null> {
  try {
    return await source.read(file, onProgress);
  } catch (e) {
    if (isAbsentFile(e)) return null;
    throw e;
  }
}

/** The most a JSON file may hold (config.json, generation_config.json, adapter_config.json, ...): real ones are kilobytes. */
export const JSON_SIZE_LIMIT = 4 * 1024 * 1024;
/** tokenizer.json holds the whole vocabulary and merges: tens of MB for large vocabularies. */
export const TOKENIZER_JSON_SIZE_LIMIT = 128 * 1024 * 1024;

/** The size limit a source applies to a file before reading it: JSON files only. */
export function fileSizeLimit(file: string): number {
  if (!file.endsWith('.json')) return Infinity;
  return /(^|\/)tokenizer\.json$/.test(file) ? TOKENIZER_JSON_SIZE_LIMIT : JSON_SIZE_LIMIT;
}

/** Throws when `size` bytes exceed `limit`, naming `what` and both sizes. */
export function checkSize(size: number, limit: number, what: string): void {
  if (size > limit) {
    throw new Error(`${what} is ${size} bytes, more than the ${limit / (1024 * 1024)} MiB allowed for it: not a file of this kind`);
  }
}

export function parseJSON(bytes: Uint8Array, what: string, limit = JSON_SIZE_LIMIT): unknown {
  checkSize(bytes.byteLength, limit, what);
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new Error(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

export async function readJSON(source: CheckpointSource, file: string): Promise<unknown> {
  return parseJSON(await source.read(file), `${file} at ${source.location}`, fileSizeLimit(file));
}

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/** Opens a local directory, a file:// or http(s):// URL, or (through src/io/hub) a Hub id. */
export async function openSource(source: string, options: OpenSourceOptions = {}): Promise<CheckpointSource> {
  if (/^https?:\/\//i.test(source)) {
    return new HttpSource(source, options.headers ?? {}, resolveHubLimits(options).downloadTimeout * 1000);
  }
  const [fs, path, { fileURLToPath }] = await Promise.all([import('node:fs/promises'), import('node:path'), import('node:url')]);
  const dir = source.startsWith('file://') ? fileURLToPath(source) : source;
  await recoverDir(dir);   // a save killed mid-swap left the old folder aside: put it back
  const info = await fs.stat(dir).catch(() => null);
  if (info?.isDirectory()) return new LocalSource(path.resolve(dir), fs, path);
  if (info != null) throw new Error(`checkpoint source ${source} is a file; give the folder that holds config.json`);
  if (HUB_ID.test(source)) {
    // A Hub id: files come through the Hugging Face cache (src/io/hub).
    return openHubSource(source, options);
  }
  throw new Error(`checkpoint source ${source} is not a folder, an http(s):// URL or a Hub id`);
}

class LocalSource implements CheckpointSource {
  constructor(readonly location: string, private readonly fs: Fs, private readonly path: Path) {}

  private resolve(file: string): string {
    const full = this.path.resolve(this.location, file);
    if (!full.startsWith(this.location + this.path.sep)) throw new Error(`file name ${file} leaves ${this.location}`);
    return full;
  }

  async exists(file: string): Promise<boolean> {
    return (await this.fs.stat(this.resolve(file)).catch(() => null))?.isFile() ?? false;
  }

  async read(file: string, onProgress?: ProgressCallback): Promise<Uint8Array> {
    const reader = await this.openRange(file, onProgress);
    try {
      checkSize(reader.size, fileSizeLimit(file), this.resolve(file));
      return await reader.read(0, reader.size);
    } finally {
      await reader.close();
    }
  }

  openRange(file: string, onProgress?: ProgressCallback): Promise<RangeReader> {
    return openLocalRange(this.resolve(file), file, onProgress);
  }
}

class HttpSource implements CheckpointSource {
  readonly location: string;

  /** `timeoutMs`: the longest wait for an answer, then between two chunks of a body. */
  constructor(base: string, private readonly headers: Record<string, string>, private readonly timeoutMs: number) {
    // As the URL class writes it (scheme and host lower case, dot segments and spaces resolved), so that
    // files' URLs, written the same way, compare with it.
    let href: string;
    try {
      href = new URL(base).href;
    } catch {
      throw new Error(`checkpoint source ${base} is not a valid URL`);
    }
    this.location = href.endsWith('/') ? href : `${href}/`;
  }

  /** A file's URL, which must stay under the base: an index must not send requests elsewhere. */
  private url(file: string): string {
    const url = new URL(file, this.location).href;
    if (!url.startsWith(this.location)) throw new Error(`file name ${file} leaves ${this.location}`);
    return url;
  }

  async exists(file: string): Promise<boolean> {
    const url = this.url(file);
    const timed = await timedFetch(url, { method: 'HEAD', headers: this.headers }, this.timeoutMs);
    timed.cancel();
    const response = timed.response;
    if (response.status === 404) return false;
    if (!response.ok) throw new Error(`HEAD ${url} failed: HTTP ${response.status} ${response.statusText}`);
    return true;
  }

  openRange(file: string, onProgress?: ProgressCallback): Promise<RangeReader> {
    return openHttpRange(this.url(file), file, this.headers, this.timeoutMs, () => this.read(file, onProgress), onProgress);
  }

  async read(file: string, onProgress?: ProgressCallback): Promise<Uint8Array> {
    const url = this.url(file);
    let timed: Awaited<ReturnType<typeof timedFetch>>;
    try {
      timed = await timedFetch(url, { headers: this.headers }, this.timeoutMs);
    } catch (e) {
      if (e instanceof DownloadTimeoutError) throw e;
      throw new Error(`GET ${url} failed: ${describe(e)}`);
    }
    const response = timed.response;
    if (response.status === 404) {
      timed.cancel();
      throw new SourceFileNotFoundError(file, `HTTP 404 from ${url}`);
    }
    if (!response.ok) {
      timed.cancel();
      throw new Error(`GET ${url} failed: HTTP ${response.status} ${response.statusText}`);
    }
    // A compressed body's Content-Length counts the compressed bytes, not what the reader yields.
    const encoded = (response.headers.get('content-encoding') ?? 'identity') !== 'identity';
    const lengthHeader = response.headers.get('content-length');
    const total = !encoded && lengthHeader != null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
    const limit = fileSizeLimit(file);
    if (total !== undefined && total > limit) {
      await response.body?.cancel();
      checkSize(total, limit, url);
    }
    if (response.body == null) throw new Error(`GET ${url} returned no body`);
    const out = total !== undefined ? allocate(total, url) : null;
    const chunks: Uint8Array[] = [];
    let loaded = 0;
    onProgress?.({ file, loaded, total });
    const body = timed.chunks();
    for (;;) {
      let step: IteratorResult<Uint8Array>;
      try {
        step = await body.next();
      } catch (e) {
        if (e instanceof DownloadTimeoutError) throw e;
        const got = total !== undefined ? `got ${loaded} of ${total} bytes` : `got ${loaded} bytes`;
        throw new Error(`truncated response from ${url}: ${got} (${describe(e)})`);
      }
      if (step.done) break;
      const value = step.value;
      if (out != null) {
        if (loaded + value.byteLength > out.byteLength) {
          await body.return(undefined);
          throw new Error(`GET ${url}: more bytes than its Content-Length of ${total}`);
        }
        out.set(value, loaded);
      } else {
        chunks.push(value);
      }
      loaded += value.byteLength;
      if (loaded > limit) {
        await body.return(undefined);
        checkSize(loaded, limit, url);
      }
      onProgress?.({ file, loaded, total });
    }
    if (out != null) {
      if (loaded !== total) throw new Error(`truncated response from ${url}: got ${loaded} of ${total} bytes`);
      return out;
    }
    const joined = allocate(loaded, url);
    let at = 0;
    for (const c of chunks) {
      joined.set(c, at);
      at += c.byteLength;
    }
    return joined;
  }
}

function describe(e: unknown): string {
  const err = e as Error & { cause?: unknown };
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message ?? String(e)}${cause}`;
}
