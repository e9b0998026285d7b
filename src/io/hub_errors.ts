/**
 * The errors the Hub client throws, one class per kind of failure, so that callers (and tests) can tell
 * a missing file from a hostile name, a corrupt blob, a stalled server or an HTTP failure.
 */

/** The Hub answered 404: the repository, the revision or the file does not exist (or is private). */
export class HubNotFoundError extends Error {
  /** The commit at which the file itself is missing (its repository and revision exist). */
  readonly missingAt?: string;

  constructor(message: string, missingAt?: string) {
    super(message);
    this.missingAt = missingAt;
    this.name = 'HubNotFoundError';
  }
}

/** The file is not in the cache and the network may not be used (offline mode or `localFilesOnly`). */
export class HubCacheMissError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubCacheMissError';
  }
}

/**
 * A name that would decide a path in the cache is not one the Hub can have: a repository id, revision or
 * file name from the caller, or an ETag or commit hash from the server (`../../x`, an absolute path, ...).
 */
export class HubInvalidNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubInvalidNameError';
  }
}

/** A path in the cache (a snapshot link, a folder) leads outside the repository's cache folder. */
export class HubUnsafePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubUnsafePathError';
  }
}

/** A downloaded or cached file does not match the hash (or size) the Hub gave for it. */
export class HubIntegrityError extends Error {
  constructor(message: string, readonly file: string, readonly expected: string, readonly actual: string) {
    super(message);
    this.name = 'HubIntegrityError';
  }
}

/** The Hub (or its CDN) answered with an HTTP error other than a 404, after any retries. */
export class HubHttpError extends Error {
  /** The answer's `Retry-After`, when it had one. */
  constructor(message: string, readonly status: number, readonly retryAfter: string | null = null) {
    super(message);
    this.name = 'HubHttpError';
  }
}

/** The Hub could not be reached, or the connection dropped mid-download, after any retries. */
export class HubConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HubConnectionError';
  }
}

/** The answer broke the protocol: no commit header, an unusable redirect, a resume at the wrong offset. */
export class HubProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubProtocolError';
  }
}
