/**
 * Downloads files of Hugging Face Hub model repositories into the cache layout Python's huggingface_hub
 * uses (see hf_cache.ts), with the same rules: `HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE`, the resolve URL
 * `{endpoint}/{repo}/resolve/{revision}/{file}`, its `X-Repo-Commit` and `X-Linked-Etag`/`ETag` headers,
 * and `.incomplete` blobs resumed with a `Range` request. Nothing the server sends is trusted: names are
 * checked before they become paths (hub_names.ts), a blob is renamed into place only once it hashes to its
 * ETag, every read has a timeout (`HF_HUB_DOWNLOAD_TIMEOUT`, `HF_HUB_ETAG_TIMEOUT`), and 5xx answers,
 * dropped connections and a stall are retried a bounded number of times, resuming where they stopped.
 *
 * Own code rather than npm's `@huggingface/hub`: its `downloadFileToCacheDir` (2.x) asks the paths-info API
 * instead of the resolve URL's headers, has no offline mode, no `.no_exist` or refs/ entries, no resume, no
 * read timeout or retries, no lock between processes, and neither checks the names it makes paths of nor
 * the bytes it renames into place.
 */
import { expandPath, hfHome, type RepoCache, type SnapshotState, nodeModules, openRepoCache } from './hf_cache.js';
import {
  HubCacheMissError, HubConnectionError, HubHttpError, HubIntegrityError, HubNotFoundError, HubProtocolError,
} from './hub_errors.js';
import { checkCommit, checkEtag, checkFilename, checkRepoId, checkRevision, isCommitHash } from './hub_names.js';
import { type CheckpointSource, type ProgressCallback, SourceFileNotFoundError } from './checkpoint_source.js';
import {
  DownloadTimeoutError, isNetworkError, isRetryableStatus, retryDelaySeconds, sleep, timedFetch, type TimedResponse,
} from './timed_fetch.js';

import { openLocalRange } from './ranged_source.js';

export { isHubId } from './hub_names.js';
export {
  HubCacheMissError, HubConnectionError, HubHttpError, HubIntegrityError, HubInvalidNameError, HubNotFoundError,
  HubProtocolError, HubUnsafePathError,
} from './hub_errors.js';
export { DownloadTimeoutError } from './timed_fetch.js';

export interface HubDownloadOptions {
  /** Branch, tag or commit hash; `main` by default. */
  revision?: string;
  /** The hub cache folder; `$HF_HUB_CACHE`, `$HF_HOME/hub` or `~/.cache/huggingface/hub` by default. */
  cacheDir?: string;
  /** Only read the cache (as `HF_HUB_OFFLINE=1` does). */
  localFilesOnly?: boolean;
  /** Sent as `Authorization: Bearer`; `$HF_TOKEN` or the token `huggingface-cli login` saved by default. */
  token?: string;
  /** `$HF_ENDPOINT` or https://huggingface.co by default. */
  endpoint?: string;
  onProgress?: ProgressCallback;
  /** Seconds without a byte before a download is given up as stalled: `$HF_HUB_DOWNLOAD_TIMEOUT`, else 30. */
  downloadTimeout?: number;
  /** Seconds to wait for the answer to the metadata request (HEAD): `$HF_HUB_ETAG_TIMEOUT`, else 10. */
  etagTimeout?: number;
  /**
   * Retries after a 5xx or 429 answer or a dropped connection, waiting 1, 2, 4 s (or the server's
   * Retry-After, at most 10 s); a stall is retried once of these. 3 by default; 0 turns retries off.
   */
  maxRetries?: number;
}

/** The limits a download runs under, from the options, the environment and the defaults. */
export interface HubLimits {
  downloadTimeout: number;
  etagTimeout: number;
  maxRetries: number;
}

export const DEFAULT_DOWNLOAD_TIMEOUT_S = 30;
export const DEFAULT_ETAG_TIMEOUT_S = 10;
export const DEFAULT_MAX_RETRIES = 3;
/** A stall costs a whole timeout: one retry keeps a stalled download's default total near 61 s. */
const STALL_RETRIES = 1;
const MAX_REDIRECTS = 10;

/** A number of seconds from an option (a number) or an environment variable (decimal digits). */
function seconds(value: unknown, what: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const fromEnv = what.startsWith('HF_');
  const n = fromEnv && typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || n > 86_400) {
    throw new RangeError(`${what} must be a number of seconds above 0 (at most a day), got ${JSON.stringify(value)}`);
  }
  return n;
}

/** The timeouts (seconds) and retries a download of these options uses. */
export function resolveHubLimits(options: HubDownloadOptions = {}): HubLimits {
  const env: Record<string, string | undefined> = typeof process === 'undefined' ? {} : process.env; // browsers have none
  const maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
  if (!Number.isInteger(maxRetries) || maxRetries < 0 || maxRetries > 10) {
    throw new RangeError(`maxRetries must be an integer from 0 to 10, got ${JSON.stringify(options.maxRetries)}`);
  }
  return {
    downloadTimeout: options.downloadTimeout !== undefined ? seconds(options.downloadTimeout, 'downloadTimeout', 0)
      : seconds(env.HF_HUB_DOWNLOAD_TIMEOUT, 'HF_HUB_DOWNLOAD_TIMEOUT', DEFAULT_DOWNLOAD_TIMEOUT_S),
    etagTimeout: options.etagTimeout !== undefined ? seconds(options.etagTimeout, 'etagTimeout', 0)
      : seconds(env.HF_HUB_ETAG_TIMEOUT, 'HF_HUB_ETAG_TIMEOUT', DEFAULT_ETAG_TIMEOUT_S),
    maxRetries,
  };
}

/** `$HF_HUB_OFFLINE`, else transformers' `$TRANSFORMERS_OFFLINE`, as huggingface_hub reads them. */
function isOffline(): boolean {
  const value = process.env.HF_HUB_OFFLINE || process.env.TRANSFORMERS_OFFLINE || '';
  return ['1', 'on', 'yes', 'true'].includes(value.trim().toLowerCase());
}

function resolveEndpoint(option: string | undefined): string {
  const endpoint = (option ?? (process.env.HF_ENDPOINT || 'https://huggingface.co')).replace(/\/+$/, '');
  let url: URL | null = null;
  try {
    url = new URL(endpoint);
  } catch { /* reported below */ }
  if (url == null || !/^https?:$/.test(url.protocol)) {
    throw new RangeError(`the Hub endpoint must be an http(s) URL, got ${JSON.stringify(endpoint)}`);
  }
  return endpoint;
}

/**
 * `$HF_TOKEN` (or its older name `$HUGGING_FACE_HUB_TOKEN`), else the file `huggingface-cli login` writes
 * (`$HF_TOKEN_PATH`, else hfHome's `token`).
 */
async function defaultToken(): Promise<string | undefined> {
  const env = process.env;
  if (env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN) return env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN;
  const modules = await nodeModules();
  const file = env.HF_TOKEN_PATH ? expandPath(env.HF_TOKEN_PATH, modules) : modules.path.join(hfHome(modules), 'token');
  try {
    return (await modules.fs.readFile(file, 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** One file of one repository at one revision, and where the cache keeps it. */
interface FileRequest {
  repoId: string;
  revision: string;
  filename: string;
  url: string;
  cache: RepoCache;
  endpoint: string;
  limits: HubLimits;
  options: HubDownloadOptions;
}

/** What a HEAD on the resolve URL says about the file. */
interface FileMetadata {
  commit: string;
  etag: string;
  /** Where the bytes are: the resolve URL itself, or the CDN URL it redirects to. */
  location: string;
  size?: number;
}

function describeFile(r: FileRequest): string {
  return `"${r.filename}" of Hub repo ${r.repoId} at revision ${r.revision}`;
}

async function fileRequest(repoId: string, filename: string, options: HubDownloadOptions): Promise<FileRequest> {
  checkRepoId(repoId);
  checkFilename(filename);
  const revision = checkRevision(options.revision ?? 'main');
  const limits = resolveHubLimits(options);
  const endpoint = resolveEndpoint(options.endpoint);
  const cache = await openRepoCache(options.cacheDir, repoId);
  const url = `${endpoint}/${repoId}/resolve/${encodeURIComponent(revision)}/`
    + filename.split('/').map(encodeURIComponent).join('/');
  return { repoId, revision, filename, url, cache, endpoint, limits, options };
}

function statusError(r: FileRequest, response: Response, url: string): Error {
  const code = response.headers.get('x-error-code');
  const where = `${describeFile(r)}, ${url}`;
  // Unauthenticated, the Hub answers 401 RepoNotFound for private repositories as for missing ones.
  if (code === 'RepoNotFound' || (response.status === 404 && code === 'RevisionNotFound')) {
    const what = code === 'RepoNotFound'
      ? `repository ${r.repoId} does not exist, or is private and needs a token (HF_TOKEN)`
      : `revision ${r.revision} does not exist in ${r.repoId}`;
    return new HubNotFoundError(`Hub: ${what} (HTTP ${response.status} for ${where})`);
  }
  if (response.status === 404) {
    const commit = response.headers.get('x-repo-commit');
    const missingAt = code === 'EntryNotFound' && commit != null && isCommitHash(commit) ? commit : undefined;
    return new HubNotFoundError(`Hub: ${r.repoId} has no file "${r.filename}" at revision ${r.revision} (404 for ${where})`, missingAt);
  }
  if (response.status === 401 || response.status === 403) {
    const why = code === 'GatedRepo' ? `${r.repoId} is gated: accept its conditions on the Hub and set HF_TOKEN`
      : `the repository may be private or gated: set HF_TOKEN or pass a token with access`;
    return new HubHttpError(`Hub: access denied (HTTP ${response.status}) to ${where}; ${why}`, response.status);
  }
  return new HubHttpError(`Hub: HTTP ${response.status} ${response.statusText} for ${where}`, response.status,
    response.headers.get('retry-after'));
}

function parseSize(value: string | null): number | undefined {
  return value != null && /^\d{1,15}$/.test(value) ? Number(value) : undefined;
}

/** A redirect's target, which must be an http(s) URL. */
function redirectTarget(r: FileRequest, from: string, location: string): string {
  let url: URL | null = null;
  try {
    url = new URL(location, from);
  } catch { /* reported below */ }
  if (url == null || !/^https?:$/.test(url.protocol)) {
    throw new HubProtocolError(`Hub: ${from} redirects ${describeFile(r)} to ${JSON.stringify(location)}, not an http(s) URL`);
  }
  return url.href;
}

/**
 * A request that follows redirects itself (at most 10), sending the token only to the Hub's own origin:
 * a redirect elsewhere (a CDN, another host) never carries it. `stopAt` ends the walk at a redirect that
 * is itself the answer (the HEAD of an LFS file).
 */
async function request(
  r: FileRequest, start: string, auth: Record<string, string>, init: { method: string; headers?: Record<string, string> },
  timeoutS: number, stopAt: (response: Response) => boolean = () => false,
): Promise<{ timed: TimedResponse; url: string }> {
  const hub = new URL(r.endpoint).origin;
  let url = start;
  for (let hops = 0; hops <= MAX_REDIRECTS; hops++) {
    const headers = { ...(new URL(url).origin === hub ? auth : {}), ...init.headers, 'Accept-Encoding': 'identity' };
    const timed = await timedFetch(url, { method: init.method, headers, redirect: 'manual' }, timeoutS * 1000);
    const { status } = timed.response;
    const location = timed.response.headers.get('location');
    if (status < 300 || status >= 400 || location == null || stopAt(timed.response)) return { timed, url };
    timed.cancel();
    url = redirectTarget(r, url, location);
  }
  throw new HubProtocolError(`Hub: more than ${MAX_REDIRECTS} redirects fetching ${describeFile(r)} (${start})`);
}

/** The download broke off before the end: worth resuming. */
class CutOff extends HubConnectionError {}

function isTransient(err: unknown): boolean {
  return err instanceof CutOff || isNetworkError(err) || (err instanceof HubHttpError && isRetryableStatus(err.status));
}

/**
 * Runs `body` again after transient failures, up to `maxRetries` times with backoff; a stall is retried
 * at most `stallRetries` of those times.
 */
async function retrying<T>(r: FileRequest, stallRetries: number, body: () => Promise<T>): Promise<T> {
  let stalls = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return await body();
    } catch (err) {
      const stalled = err instanceof DownloadTimeoutError;
      const again = attempt < r.limits.maxRetries && (stalled ? stalls++ < stallRetries : isTransient(err));
      if (!again) throw err;
      await sleep(retryDelaySeconds(attempt, err instanceof HubHttpError ? err.retryAfter : null));
    }
  }
}

/**
 * HEAD on the resolve URL. Like huggingface_hub, follows redirects that carry no file metadata (a
 * renamed repository), and stops at one that does (an LFS file on the CDN): its headers are the answer.
 */
async function fetchMetadata(r: FileRequest, auth: Record<string, string>): Promise<FileMetadata> {
  const { timed, url } = await request(r, r.url, auth, { method: 'HEAD' }, r.limits.etagTimeout,
    (response) => response.headers.has('x-repo-commit'));
  timed.cancel();
  const response = timed.response;
  if (response.status >= 400) throw statusError(r, response, url);
  if (response.status >= 300 && !response.headers.has('location')) throw new HubProtocolError(`Hub: HTTP ${response.status} without a Location for ${describeFile(r)} from ${url}`);
  const what = `${describeFile(r)} from ${url}`;
  const commit = checkCommit(response.headers.get('x-repo-commit'), what);
  const rawEtag = response.headers.get('x-linked-etag') ?? response.headers.get('etag');
  if (rawEtag == null) throw new HubProtocolError(`Hub: no ETag for ${what}; cannot key the cache`);
  const location = response.headers.get('location');
  return {
    commit, etag: checkEtag(rawEtag, what),
    location: response.status >= 300 && location != null ? redirectTarget(r, url, location) : url,
    size: parseSize(response.headers.get('x-linked-size') ?? response.headers.get('content-length')),
  };
}

/**
 * One attempt at streaming the file into `<blob>.incomplete`, continuing what is there with a Range
 * request. Ends with all the bytes written and synced, or throws (a `CutOff` when it can be resumed).
 */
async function downloadAttempt(r: FileRequest, meta: FileMetadata, auth: Record<string, string>): Promise<void> {
  const { cache, filename, options: { onProgress } } = r;
  let offset = await cache.incompleteSize(meta.etag);
  if (meta.size !== undefined && offset > meta.size) {
    await cache.discardIncomplete(meta.etag);
    offset = 0;
  }
  // A partial file of the full size is a download that ended just before its check and rename.
  if (meta.size !== undefined && offset === meta.size && offset > 0) return;
  const { timed, url } = await request(r, meta.location, auth,
    { method: 'GET', headers: offset > 0 ? { Range: `bytes=${offset}-` } : {} }, r.limits.downloadTimeout);
  const response = timed.response;
  if (response.status === 416 && offset > 0) {
    // the partial file is longer than the file is now (it changed since): start over
    timed.cancel();
    await cache.discardIncomplete(meta.etag);
    return downloadAttempt(r, meta, auth);
  }
  if (response.status === 200) {
    offset = 0; // the server ignored the range: start over
  } else if (response.status !== 206) {
    timed.cancel();
    throw statusError(r, response, url);
  } else if (!(response.headers.get('content-range') ?? '').startsWith(`bytes ${offset}-`)) {
    timed.cancel();
    throw new HubProtocolError(`Hub: the server resumed ${describeFile(r)} at the wrong offset `
      + `(asked ${url} for byte ${offset}, got "${response.headers.get('content-range')}")`);
  }
  const length = parseSize(response.headers.get('content-length'));
  const total = meta.size ?? (length === undefined ? undefined : offset + length);
  let loaded = offset;
  const file = await cache.openIncomplete(meta.etag, offset > 0);
  try {
    onProgress?.({ file: filename, loaded, total });
    for await (const chunk of timed.chunks()) {
      if (total !== undefined && loaded + chunk.byteLength > total) {
        timed.cancel();
        await cache.discardIncomplete(meta.etag);
        throw new HubIntegrityError(`Hub: ${url} sent more than the ${total} bytes announced for ${describeFile(r)}`,
          filename, `${total} bytes`, `more than ${total} bytes`);
      }
      await file.write(chunk);
      loaded += chunk.byteLength;
      onProgress?.({ file: filename, loaded, total });
    }
    await file.sync();
  } catch (err) {
    if (err instanceof DownloadTimeoutError) {
      throw new DownloadTimeoutError(err.url, err.timeoutMs, err.loaded, `Hub: downloading ${describeFile(r)}: `);
    }
    if (!isNetworkError(err)) throw err;
    throw new CutOff(`Hub: the download of ${describeFile(r)} from ${url} was cut off after ${loaded} of ${total ?? '?'} bytes `
      + `(${describe(err)}); the partial file is kept and the next call resumes it`, { cause: err });
  } finally {
    await file.close();
  }
  if (total !== undefined && loaded < total) {
    throw new CutOff(`Hub: the download of ${describeFile(r)} from ${url} ended after ${loaded} bytes, expected ${total}; `
      + 'the partial file is kept and the next call resumes it');
  }
}

function describe(err: unknown): string {
  const e = err as Error;
  return e.cause instanceof Error ? e.cause.message : e.message;
}

/** Downloads the blob (retrying, resuming), then checks its hash and renames it into place. */
async function downloadBlob(r: FileRequest, meta: FileMetadata, auth: Record<string, string>): Promise<void> {
  const download = async (): Promise<void> => {
    try {
      await retrying(r, STALL_RETRIES, () => downloadAttempt(r, meta, auth));
    } catch (err) {
      if (isNetworkError(err)) {
        throw new HubConnectionError(`Hub: cannot download ${describeFile(r)} from ${meta.location} (${describe(err)})`, { cause: err });
      }
      throw err;
    }
    await r.cache.commitIncomplete(meta.etag, r.filename);
  };
  const resumed = (await r.cache.incompleteSize(meta.etag)) > 0;
  try {
    await download();
  } catch (err) {
    // A partial file left by an earlier run may hold another version's bytes: the failed check discarded
    // it, so one fresh download settles whether the server itself is wrong.
    if (!(resumed && err instanceof HubIntegrityError)) throw err;
    await download();
  }
}

/** Downloads of one blob already running in this process, so concurrent calls share one. */
const inFlight = new Map<string, Promise<void>>();

/** Makes `blobs/<etag>` hold the file, checked against its hash, downloading it when needed. */
async function ensureBlob(r: FileRequest, meta: FileMetadata, auth: Record<string, string>): Promise<void> {
  const blob = r.cache.blobPath(meta.etag);
  const good = async (): Promise<boolean> => (await r.cache.exists(blob)) && (await r.cache.blobMismatch(meta.etag)) == null;
  if (await good()) return;
  let running = inFlight.get(blob);
  if (running === undefined) {
    running = r.cache.withBlobLock(meta.etag, async () => {
      // Another process may have finished it while this one waited for the lock.
      if (!(await good())) await downloadBlob(r, meta, auth);
    }).finally(() => inFlight.delete(blob));
    inFlight.set(blob, running);
  }
  await running;
}

const localOnly = (r: FileRequest): boolean => r.options.localFilesOnly === true || isOffline();

/**
 * Whether the cache alone answers, as in huggingface_hub: a commit's files never change, and offline
 * nothing else may be asked. A branch or tag is asked about (one HEAD), so that a new commit is seen.
 */
const cacheAnswers = (r: FileRequest): boolean => isCommitHash(r.revision) || localOnly(r);

/** The remote metadata; where the Hub cannot be reached, a branch or tag falls back to the commit it last resolved to here (as huggingface_hub does). */
async function remoteOrCached(r: FileRequest, verify: boolean): Promise<{ meta: FileMetadata; auth: Record<string, string> } | string> {
  try {
    return await remoteMetadata(r);
  } catch (err) {
    if (err instanceof HubConnectionError) {
      const cached = await cachedSnapshot(r, verify);
      if (cached.state === 'ok') return cached.path;
    }
    throw err;
  }
}

/**
 * The cached snapshot entry when the revision is a commit hash or a branch/tag the cache has resolved
 * before (checked against its hash when `verify`); a 404 remembered for it throws. No network.
 */
async function cachedSnapshot(r: FileRequest, verify: boolean): Promise<SnapshotState> {
  const commit = isCommitHash(r.revision) ? r.revision : await r.cache.readRef(r.revision);
  if (commit == null) return { state: 'missing' };
  const state = await r.cache.checkSnapshot(commit, r.filename, verify);
  if (state.state === 'missing' && await r.cache.isMarkedMissing(commit, r.filename)) {
    throw new HubNotFoundError(`Hub: ${r.repoId} has no file "${r.filename}" at revision ${r.revision} `
      + '(a 404 remembered in the cache)', commit);
  }
  return state;
}

/** HEAD on the resolve URL, unless offline; records the revision's commit, or the file's absence, in the cache. */
async function remoteMetadata(r: FileRequest): Promise<{ meta: FileMetadata; auth: Record<string, string> }> {
  if (localOnly(r)) {
    const why = r.options.localFilesOnly ? 'localFilesOnly is set' : 'HF_HUB_OFFLINE is set';
    throw new HubCacheMissError(`${describeFile(r)} is not in the cache at ${r.cache.dir}, and ${why} so it cannot be downloaded`);
  }
  const token = r.options.token ?? await defaultToken();
  const auth: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  try {
    const meta = await retrying(r, 0, () => fetchMetadata(r, auth));
    await r.cache.writeRef(r.revision, meta.commit);
    return { meta, auth };
  } catch (err) {
    if (err instanceof HubNotFoundError && err.missingAt !== undefined) {
      await r.cache.writeRef(r.revision, err.missingAt);
      await r.cache.markMissing(err.missingAt, r.filename);
    }
    if (isNetworkError(err) || err instanceof DownloadTimeoutError) {
      throw new HubConnectionError(`Hub: cannot reach ${r.endpoint} for ${describeFile(r)} (${describe(err)}), `
        + `and it is not in the cache at ${r.cache.dir}`, { cause: err });
    }
    throw err;
  }
}

/**
 * Returns the local path of `filename` in Hub repo `repoId`, downloading it into the cache when needed.
 * No download when the file is cached at the commit the revision names: a commit hash needs no request, a
 * branch or tag one HEAD (the commit it names now; unreachable, the one it named last here); never any
 * request in offline mode (`HF_HUB_OFFLINE=1`) or with `localFilesOnly`. A cached file
 * is served only while it matches its hash: otherwise it is downloaded again, or, offline, refused.
 */
export async function hubDownload(repoId: string, filename: string, options: HubDownloadOptions = {}): Promise<string> {
  const r = await fileRequest(repoId, filename, options);
  if (cacheAnswers(r)) {
    const cached = await cachedSnapshot(r, true);
    if (cached.state === 'ok') return cached.path;
    if (cached.state === 'bad' && localOnly(r)) throw cached.error;
  }
  const remote = await remoteOrCached(r, true);
  if (typeof remote === 'string') return remote;
  const { meta, auth } = remote;
  const pointer = await r.cache.checkSnapshot(meta.commit, filename, true);
  if (pointer.state === 'ok') return pointer.path;
  await ensureBlob(r, meta, auth);
  return r.cache.linkSnapshot(meta.commit, filename, meta.etag);
}

/**
 * Whether the repository has the file at the revision, without downloading it: the cache answers when it
 * can, else a HEAD. Offline, a file the cache knows nothing of counts as absent.
 */
export async function hubFileExists(repoId: string, filename: string, options: HubDownloadOptions = {}): Promise<boolean> {
  const r = await fileRequest(repoId, filename, options);
  try {
    if (cacheAnswers(r) && (await cachedSnapshot(r, false)).state !== 'missing') return true;
    await remoteOrCached(r, false);
    return true;
  } catch (err) {
    if ((err instanceof HubNotFoundError && err.missingAt !== undefined) || err instanceof HubCacheMissError) return false;
    throw err;
  }
}

/** A Hub repository as a checkpoint source (src/io/source.ts): its files come through the cache. */
export function openHubSource(repoId: string, options: HubDownloadOptions = {}): CheckpointSource {
  const location = `Hub repo ${repoId} at revision ${options.revision ?? 'main'}`;
  const download = async (file: string, onProgress?: ProgressCallback): Promise<string> => {
    try {
      return await hubDownload(repoId, file, { ...options, onProgress: onProgress ?? options.onProgress });
    } catch (err) {
      if (err instanceof HubNotFoundError && err.missingAt !== undefined) throw new SourceFileNotFoundError(file, location);
      throw err;
    }
  };
  return {
    location,
    read: async (file, onProgress) => (await nodeModules()).fs.readFile(await download(file, onProgress)),
    exists: (file: string) => hubFileExists(repoId, file, options),
    // Downloaded files are local: read by ranges from the snapshot.
    openRange: async (file, onProgress) => openLocalRange(await download(file, onProgress), file, onProgress),
  };
}
