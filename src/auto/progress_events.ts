/**
 * transformers.js' `progress_callback` events over a checkpoint source: for each file read,
 * `initiate`, `download`, `progress` (percent, bytes loaded and total) and `done`; the pipeline adds
 * `ready` once the model and tokenizer are loaded. Every file read counts as a download, from the
 * cache or a local folder too (the events say what is being read, not where from).
 */
import type { CheckpointSource, ProgressCallback, RangeReader } from '../io/source.js';

export type ProgressInfo =
  | { status: 'initiate' | 'download' | 'done'; name: string; file: string }
  | { status: 'progress'; name: string; file: string; progress: number; loaded: number; total: number }
  | { status: 'ready'; task: string; model: string };

export type ProgressInfoCallback = (info: ProgressInfo) => void;

/**
 * `source` with every read reported to `callback` under the model's `name`: a whole file from its
 * read, a file read by byte ranges (tensor by tensor) from its opening to its closing, the progress
 * counting the bytes read.
 */
export function withProgressEvents(source: CheckpointSource, name: string, callback: ProgressInfoCallback): CheckpointSource {
  const openRange = source.openRange?.bind(source);
  return {
    location: source.location,
    exists: (file) => source.exists(file),
    async read(file: string, onProgress?: ProgressCallback): Promise<Uint8Array> {
      const events = fileEvents(name, file, callback);
      const bytes = await source.read(file, events.reporting(onProgress));
      events.done(bytes.length);
      return bytes;
    },
    ...(openRange == null ? {} : {
      async openRange(file: string, onProgress?: ProgressCallback): Promise<RangeReader> {
        const events = fileEvents(name, file, callback);
        const reader = await openRange(file, events.reporting(onProgress));
        return {
          size: reader.size,
          read: (offset, length) => reader.read(offset, length),
          async close() {
            await reader.close();
            events.done(reader.size);
          },
        };
      },
    }),
  };
}

/** One file's events: `initiate` now, `download` with the first progress, `done` (after a progress at 100 % where none came). */
function fileEvents(name: string, file: string, callback: ProgressInfoCallback) {
  callback({ status: 'initiate', name, file });
  let started = false;
  const start = () => {
    if (!started) callback({ status: 'download', name, file });
    started = true;
  };
  return {
    reporting: (onProgress?: ProgressCallback): ProgressCallback => (p) => {
      start();
      const total = p.total ?? p.loaded;
      callback({ status: 'progress', name, file, progress: total > 0 ? (100 * p.loaded) / total : 100, loaded: p.loaded, total });
      onProgress?.(p);
    },
    done(size: number) {
      if (!started) {
        start();
        callback({ status: 'progress', name, file, progress: 100, loaded: size, total: size });
      }
      callback({ status: 'done', name, file });
    },
  };
}
