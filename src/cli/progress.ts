/**
 * Progress on stderr for the slow parts a user waits on (downloads, long prefills), redrawn on one
 * line, and only when stderr is a terminal: piped or logged output gets none of it.
 */
import type { ReadProgress } from '../io/source.js';

export interface Progress {
  download(p: ReadProgress): void;
  prefill(done: number, total: number): void;
  /** Erases the progress line before other output. */
  clear(): void;
}

export function createProgress(stderr: NodeJS.WritableStream & { isTTY?: boolean }): Progress {
  if (!stderr.isTTY) return { download: () => undefined, prefill: () => undefined, clear: () => undefined };
  let shown = false;
  const draw = (line: string) => {
    stderr.write(`\r\x1b[K${line}`);
    shown = true;
  };
  return {
    download: ({ file, loaded, total }) => {
      draw(total ? `${file} ${bar(loaded / total)} ${mb(loaded)}/${mb(total)} MB` : `${file} ${mb(loaded)} MB`);
    },
    prefill: (done, total) => draw(`prefill ${bar(done / total)} ${done}/${total} tokens`),
    clear: () => {
      if (shown) stderr.write('\r\x1b[K');
      shown = false;
    },
  };
}

function bar(fraction: number, width = 24): string {
  const filled = Math.round(Math.min(Math.max(fraction, 0), 1) * width);
  return `[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${Math.floor(fraction * 100)}%`;
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}
