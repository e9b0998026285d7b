/**
 * `fetch` with a read timeout: the answer's headers, then every chunk of its body, must come within
 * `timeoutMs` of the last sign of life, else the request is aborted with a `DownloadTimeoutError` naming
 * the URL. (undici's own body timeout is 300 s: a server that sends headers and a few bytes, then
 * nothing, would hang a download that long.) Also the retry rules both downloaders share.
 */

/** No bytes came for the read timeout: the server or the connection stalled. */
export class DownloadTimeoutError extends Error {
  constructor(readonly url: string, readonly timeoutMs: number, readonly loaded: number, context = '') {
    super(`${context}no data from ${url} for ${timeoutMs / 1000} s `
      + (loaded > 0 ? `after ${loaded} bytes of the body` : 'waiting for the answer') + '; the server stalled');
    this.name = 'DownloadTimeoutError';
  }
}

export interface TimedResponse {
  response: Response;
  /** The body's chunks, each within the read timeout of the last. */
  chunks(): AsyncGenerator<Uint8Array>;
  /** Drops the connection (an unread body, an answer not wanted). */
  cancel(): void;
}

export async function timedFetch(url: string, init: RequestInit, timeoutMs: number): Promise<TimedResponse> {
  const controller = new AbortController();
  let loaded = 0;
  const timer = watchdog(timeoutMs, () => controller.abort());
  const timedOut = (): DownloadTimeoutError => new DownloadTimeoutError(url, timeoutMs, loaded);
  let response: Response;
  timer.arm();
  try {
    response = await fetch(url, { ...init, signal: controller.signal });
  } catch (err) {
    timer.stop();
    throw controller.signal.aborted ? timedOut() : err;
  }
  timer.arm();
  return {
    response,
    cancel: () => {
      timer.stop();
      controller.abort();
    },
    async* chunks() {
      if (response.body == null) return;
      const reader = response.body.getReader();
      let done = false;
      try {
        for (;;) {
          timer.arm();
          let step: ReadableStreamReadResult<Uint8Array>;
          try {
            step = await reader.read();
          } catch (err) {
            throw controller.signal.aborted ? timedOut() : err;
          }
          if (step.done) {
            done = true;
            return;
          }
          loaded += step.value.byteLength;
          yield step.value;
        }
      } finally {
        timer.stop();
        if (!done) controller.abort(); // left early: drop the rest of the body
      }
    },
  };
}

/** A timer re-armed at every sign of life (works in browsers too, which lack Node's `refresh`). */
function watchdog(ms: number, fire: () => void): { arm(): void; stop(): void } {
  let handle: ReturnType<typeof setTimeout> | undefined;
  return {
    arm() {
      clearTimeout(handle);
      handle = setTimeout(fire, ms);
      // In Node, unreferenced: the open socket keeps the process alive while it waits, the timer alone must not.
      (handle as { unref?: () => void }).unref?.();
    },
    stop: () => clearTimeout(handle),
  };
}

/** Statuses worth asking again for: rate limiting and server errors. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/** Network failures (refused, reset, cut off mid-body): undici reports them as TypeErrors. */
export function isNetworkError(err: unknown): boolean {
  return err instanceof TypeError && /fetch failed|terminated|other side closed|socket/i.test(err.message);
}

const MAX_RETRY_AFTER_S = 10;

/**
 * Seconds to wait before retry number `attempt` (0-based): the server's `Retry-After` (in seconds, at
 * most 10) when it sent one, else 1, 2, 4, 8 s.
 */
export function retryDelaySeconds(attempt: number, retryAfter: string | null): number {
  if (retryAfter != null && /^\d+$/.test(retryAfter.trim())) return Math.min(Number(retryAfter), MAX_RETRY_AFTER_S);
  return Math.min(2 ** attempt, 8);
}

export function sleep(seconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}
