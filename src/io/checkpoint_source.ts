/**
 * What a checkpoint is read from (a folder, an http(s) base URL, a Hub snapshot): the contract that
 * the sources (source.ts, hub.ts) implement and the loaders read through.
 */
import { HubCacheMissError } from './hub_errors.js';

export interface ReadProgress {
  file: string;
  loaded: number;
  total?: number;
}

export type ProgressCallback = (progress: ReadProgress) => void;

export interface CheckpointSource {
  /** The folder or URL, for messages. */
  readonly location: string;
  /** The file's bytes; throws `SourceFileNotFoundError` when it does not exist. */
  read(file: string, onProgress?: ProgressCallback): Promise<Uint8Array>;
  exists(file: string): Promise<boolean>;
  /**
   * The file opened for reads of byte ranges, so a large checkpoint is read tensor by tensor and
   * never held whole; throws `SourceFileNotFoundError` when it does not exist. A source without it
   * is read whole (src/io/ranged_source.ts).
   */
  openRange?(file: string, onProgress?: ProgressCallback): Promise<RangeReader>;
}

/** One file read by byte ranges. */
export interface RangeReader {
  /** The file's size in bytes. */
  readonly size: number;
  /** `length` bytes from `offset`: a buffer of their own, or a view where the file had to be read whole. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/**
 * Whether `error` says an optional file is not there to read: the source has no such file, or (offline,
 * `localFilesOnly`) a Hub cache holds no copy, as transformers then goes on without it.
 */
export function isAbsentFile(error: unknown): boolean {
  return error instanceof SourceFileNotFoundError || error instanceof HubCacheMissError;
}

/** A file the source does not have (a missing local file, an HTTP 404). */
export class SourceFileNotFoundError extends Error {
  constructor(readonly file: string, readonly where: string) {
    super(`${file} not found: ${where}`);
    this.name = 'SourceFileNotFoundError';
  }
}
