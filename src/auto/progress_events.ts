/**
 * transformers.js' `progress_callback` events over a checkpoint source: for each file read,
 * `initiate`, `download`, `progress` (percent, bytes loaded and total) and `done`; the pipeline adds
 * `ready` once the model and tokenizer are loaded. Every file read counts as a download, from the
 * cache or a local folder too (the events say what is being read, not where from).
 */
import type { CheckpointSource, ProgressCallback } from '../io/source.js';

export type ProgressInfo =
  | { status: 'initiate' | 'download' | 'done'; name: string; file: string }
  | { status: 'progress'; name: string; file: string; progress: number; loaded: number; total: number }
  | { status: 'ready'; task: string; model: string };

export type ProgressInfoCallback = (info: ProgressInfo) => void;

/** `source` with every read reported to `callback` under the model's `name`. */
export function withProgressEvents(source: CheckpointSource, name: string, callback: ProgressInfoCallback): CheckpointSource {
  return {
    location: source.location,
    exists: (file) => source.exists(file),
    async read(file: string, onProgress?: ProgressCallback): Promise<Uint8Array> {
      callback({ status: 'initiate', name, file });
      let started = false;
      const start = () => {
        if (!started) callback({ status: 'download', name, file });
        started = true;
      };
      const bytes = await source.read(file, (p) => {
        start();
        const total = p.total ?? p.loaded;
        callback({ status: 'progress', name, file, progress: total > 0 ? (100 * p.loaded) / total : 100, loaded: p.loaded, total });
        onProgress?.(p);
      });
      if (!started) {
        start();
        callback({ status: 'progress', name, file, progress: 100, loaded: bytes.length, total: bytes.length });
      }
      callback({ status: 'done', name, file });
      return bytes;
    },
  };
}
