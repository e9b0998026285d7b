/**
 * Downloads files of Hugging Face Hub model repositories into the cache layout Python's huggingface_hub
 * uses (see hf_cache.ts), with the same rules: `HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE`, the resolve URL
 * `{endpoint}/{repo}/resolve/{revision}/{file}`, its `X-Repo-Commit` and `X-Linked-Etag`/`ETag` headers,
 * and `.incomplete` blobs resumed with a `Range` request.
 */
import { isCommitHash, nodeModules, openRepoCache, type RepoCache } from './hf_cache.js';
import { type CheckpointSource, type ProgressCallback, SourceFileNotFoundError } from './checkpoint_source.js';
import { openLocalRange } from './ranged_source.js';

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
}

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

const REPO_PART = /^(?!.*(--|\.\.))[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9])?$/;
const HEAD_TIMEOUT_MS = 10_000;

/** Whether `source` is shaped like a Hub model id, `owner/name` (check for a local folder first: `a/b` is both). */
export function isHubId(source: string): boolean {
  const parts = source.split('/');
  return parts.length === 2 && parts.every((part) => REPO_PART.test(part)) && !source.endsWith('.git');
}

function isOffline(): boolean {
  return ['1', 'on', 'yes', 'true'].includes((process.env.HF_HUB_OFFLINE ?? '').trim().toLowerCase());
}

function defaultEndpoint(): string {
  return process.env.HF_ENDPOINT || 'https://huggingface.co';
}

/** `$HF_TOKEN`, else the file `huggingface-cli login` writes (`$HF_TOKEN_PATH`, `$HF_HOME/token`, `~/.cache/huggingface/token`). */
async function defaultToken(): Promise<string | undefined> {
  const env = process.env;
  if (env.HF_TOKEN) return env.HF_TOKEN;
  const { fs, path, os } = await nodeModules();
  const file = env.HF_TOKEN_PATH ?? path.join(env.HF_HOME ?? path.join(os.homedir(), '.cache', 'huggingface'), 'token');
  try {
    return (await fs.readFile(file, 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

function checkFilename(filename: string): void {
  const parts = filename.split('/');
  if (filename === '' || filename.startsWith('/') || filename.includes('\\')
      || parts.some((part) => part === '' || part === '.' || part === '..')) {
    throw new Error(`invalid file name in a Hub repository: ${JSON.stringify(filename)}`);
  }
}

/** What a HEAD on the resolve URL says about the file. */
interface FileMetadata {
  commit: string;
  etag: string;
  /** Where the bytes are: the resolve URL itself, or the CDN URL it redirects to. */
  location: string;
  size?: number;
}

interface Target {
  repoId: string;
  revision: string;
  filename: string;
  url: string;
}

function describeFile(t: Target): string {
  return `"${t.filename}" of Hub repo ${t.repoId} at revision ${t.revision}`;
}

function statusError(t: Target, response: Response): Error {
  const code = response.headers.get('x-error-code');
  const where = `${describeFile(t)}, ${t.url}`;
  // Unauthenticated, the Hub answers 401 RepoNotFound for private repositories as for missing ones.
  if (code === 'RepoNotFound' || (response.status === 404 && code === 'RevisionNotFound')) {
    const what = code === 'RepoNotFound'
      ? `repository ${t.repoId} does not exist, or is private and needs a token (HF_TOKEN)`
      : `revision ${t.revision} does not exist in ${t.repoId}`;
    return new HubNotFoundError(`Hub: ${what} (HTTP ${response.status} for ${where})`);
  }
  if (response.status === 404) {
    const commit = response.headers.get('x-repo-commit');
    const missingAt = code === 'EntryNotFound' && commit != null && isCommitHash(commit) ? commit : undefined;
    return new HubNotFoundError(`Hub: ${t.repoId} has no file "${t.filename}" at revision ${t.revision} (404 for ${where})`, missingAt);
  }
  if (response.status === 401 || response.status === 403) {
    const why = code === 'GatedRepo' ? `${t.repoId} is gated: accept its conditions on the Hub and set HF_TOKEN`
      : `the repository may be private or gated: set HF_TOKEN or pass a token with access`;
    return new Error(`Hub: access denied (HTTP ${response.status}) to ${where}; ${why}`);
  }
  return new Error(`Hub: HTTP ${response.status} ${response.statusText} for ${where}`);
}

function isAbsoluteUrl(location: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(location) || location.startsWith('//');
}

function normalizeEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

function parseSize(value: string | null): number | undefined {
  return value != null && /^\d+$/.test(value) ? Number(value) : undefined;
}

/**
 * HEAD on the resolve URL. Like huggingface_hub, follows only relative redirects (a renamed repository)
 * and stops at an absolute one (an LFS file on the CDN), whose headers carry the metadata.
 */
async function fetchMetadata(t: Target, headers: Record<string, string>): Promise<FileMetadata> {
  let url = t.url;
  for (let hops = 0; hops < 10; hops++) {
    const response = await fetch(url, {
      method: 'HEAD', headers: { ...headers, 'Accept-Encoding': 'identity' },
      redirect: 'manual', signal: AbortSignal.timeout(HEAD_TIMEOUT_MS),
    });
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location != null && !isAbsoluteUrl(location)) {
      url = new URL(location, url).href;
      continue;
    }
    if (response.status >= 400) throw statusError({ ...t, url }, response);
    const commit = response.headers.get('x-repo-commit');
    const etag = response.headers.get('x-linked-etag') ?? response.headers.get('etag');
    if (commit == null || !isCommitHash(commit)) {
      throw new Error(`Hub: no X-Repo-Commit header for ${describeFile(t)} from ${url}; is the endpoint a Hugging Face Hub?`);
    }
    if (etag == null) throw new Error(`Hub: no ETag for ${describeFile(t)} from ${url}; cannot key the cache`);
    const redirected = response.status >= 300 && response.status < 400 && location != null;
    return {
      commit, etag: normalizeEtag(etag), location: redirected ? new URL(location, url).href : url,
      size: parseSize(response.headers.get('x-linked-size') ?? response.headers.get('content-length')),
    };
  }
  throw new Error(`Hub: too many redirects fetching ${describeFile(t)} (${t.url})`);
}

/**
 * Streams the file into `<blob>.incomplete` (continuing it with a Range request when one is there), checks
 * its size, then renames it to the blob: a cut-off download never leaves a blob the cache would trust.
 */
async function downloadBlob(
  t: Target, meta: FileMetadata, blob: string, headers: Record<string, string>,
  onProgress?: ProgressCallback,
): Promise<void> {
  const { fs, path } = await nodeModules();
  const partial = `${blob}.incomplete`;
  await fs.mkdir(path.dirname(blob), { recursive: true });
  const existing = await fs.stat(partial).catch(() => null);
  let offset = existing?.size ?? 0;
  if (meta.size !== undefined && offset > meta.size) {
    await fs.rm(partial, { force: true });
    offset = 0;
  }
  // A partial file of the full size is a download that ended just before its rename.
  if (existing == null || meta.size === undefined || offset < meta.size) {
    const response = await fetch(meta.location, {
      headers: { ...headers, 'Accept-Encoding': 'identity', ...(offset > 0 ? { Range: `bytes=${offset}-` } : {}) },
    }).catch((err: Error) => {
      throw new Error(`Hub: cannot download ${describeFile(t)} from ${meta.location} `
        + `(${err.cause instanceof Error ? err.cause.message : err.message})`, { cause: err });
    });
    if (response.status === 200) offset = 0; // the server ignored the range: start over
    else if (response.status !== 206) throw statusError(t, response);
    else if (!(response.headers.get('content-range') ?? '').startsWith(`bytes ${offset}-`)) {
      throw new Error(`Hub: the server resumed ${describeFile(t)} at the wrong offset `
        + `(asked for byte ${offset}, got "${response.headers.get('content-range')}")`);
    }
    const length = parseSize(response.headers.get('content-length'));
    const total = meta.size ?? (length === undefined ? undefined : offset + length);
    let loaded = offset;
    const file = await fs.open(partial, offset > 0 ? 'a' : 'w');
    try {
      const reader = response.body!.getReader();
      onProgress?.({ file: t.filename, loaded, total });
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        await file.write(chunk.value);
        loaded += chunk.value.byteLength;
        onProgress?.({ file: t.filename, loaded, total });
      }
    } catch (err) {
      throw new Error(`Hub: the download of ${describeFile(t)} was cut off after ${loaded} of ${total ?? '?'} bytes `
        + `(${(err as Error).message}); the partial file is kept and the next call resumes it`, { cause: err });
    } finally {
      await file.close();
    }
    if (total !== undefined && loaded !== total) {
      if (loaded > total) await fs.rm(partial, { force: true });
      throw new Error(`Hub: the download of ${describeFile(t)} ended after ${loaded} bytes, expected ${total}`
        + (loaded < total ? '; the partial file is kept and the next call resumes it' : ''));
    }
  }
  await fs.rename(partial, blob);
}

/** Downloads of one blob already running in this process, so concurrent calls share one. */
const inFlight = new Map<string, Promise<void>>();

/** One file of one repository at one revision, and where the cache keeps it. */
interface FileRequest extends Target {
  cache: RepoCache;
  endpoint: string;
  options: HubDownloadOptions;
}

async function fileRequest(repoId: string, filename: string, options: HubDownloadOptions): Promise<FileRequest> {
  if (!isHubId(repoId)) throw new Error(`not a Hub model id (owner/name): ${JSON.stringify(repoId)}`);
  checkFilename(filename);
  const cache = await openRepoCache(options.cacheDir, repoId);
  const revision = options.revision ?? 'main';
  const endpoint = (options.endpoint ?? defaultEndpoint()).replace(/\/+$/, '');
  const url = `${endpoint}/${repoId}/resolve/${encodeURIComponent(revision)}/`
    + filename.split('/').map(encodeURIComponent).join('/');
  return { repoId, revision, filename, url, cache, endpoint, options };
}

/**
 * The cached file when the revision is a commit hash or a branch/tag the cache has resolved before;
 * a 404 remembered for it throws. No network.
 */
async function cachedPath(r: FileRequest): Promise<string | null> {
  const commit = isCommitHash(r.revision) ? r.revision : await r.cache.readRef(r.revision);
  if (commit == null) return null;
  const cached = r.cache.snapshotPath(commit, r.filename);
  if (await r.cache.exists(cached)) return cached;
  if (await r.cache.exists(r.cache.noExistPath(commit, r.filename))) {
    throw new HubNotFoundError(`Hub: ${r.repoId} has no file "${r.filename}" at revision ${r.revision} `
      + '(a 404 remembered in the cache)', commit);
  }
  return null;
}

/** HEAD on the resolve URL, unless offline; records the revision's commit, or the file's absence, in the cache. */
async function remoteMetadata(r: FileRequest): Promise<{ meta: FileMetadata; auth: Record<string, string> }> {
  if (r.options.localFilesOnly || isOffline()) {
    const why = r.options.localFilesOnly ? 'localFilesOnly is set' : 'HF_HUB_OFFLINE is set';
    throw new HubCacheMissError(`${describeFile(r)} is not in the cache at ${r.cache.dir}, and ${why} so it cannot be downloaded`);
  }
  const token = r.options.token ?? await defaultToken();
  const auth: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  try {
    const meta = await fetchMetadata(r, auth);
    await r.cache.writeRef(r.revision, meta.commit);
    return { meta, auth };
  } catch (err) {
    if (err instanceof HubNotFoundError && err.missingAt !== undefined) {
      await r.cache.writeRef(r.revision, err.missingAt);
      await r.cache.markMissing(err.missingAt, r.filename);
    }
    if (err instanceof TypeError || (err as Error).name === 'TimeoutError') {
      const cause = (err as Error).cause;
      throw new Error(`Hub: cannot reach ${r.endpoint} for ${describeFile(r)} `
        + `(${cause instanceof Error ? cause.message : (err as Error).message}), `
        + `and it is not in the cache at ${r.cache.dir}`, { cause: err });
    }
    throw err;
  }
}

/**
 * Returns the local path of `filename` in Hub repo `repoId`, downloading it into the cache when needed.
 * No network when the revision is a commit hash, or a branch/tag the cache has resolved before, and the
 * file is cached; never any in offline mode (`HF_HUB_OFFLINE=1`) or with `localFilesOnly`.
 */
export async function hubDownload(repoId: string, filename: string, options: HubDownloadOptions = {}): Promise<string> {
  const r = await fileRequest(repoId, filename, options);
  const cached = await cachedPath(r);
  if (cached != null) return cached;
  const { meta, auth } = await remoteMetadata(r);
  const pointer = r.cache.snapshotPath(meta.commit, filename);
  if (await r.cache.exists(pointer)) return pointer;

  const blob = r.cache.blobPath(meta.etag);
  if (!(await r.cache.exists(blob))) {
    // The token goes to the Hub only, not to the CDN a large file redirects to.
    const sameOrigin = new URL(meta.location).origin === new URL(r.endpoint).origin;
    let running = inFlight.get(blob);
    if (running === undefined) {
      running = r.cache.withBlobLock(meta.etag, async () => {
        // Another process may have finished it while this one waited for the lock.
        if (!(await r.cache.exists(blob))) await downloadBlob(r, meta, blob, sameOrigin ? auth : {}, options.onProgress);
      }).finally(() => inFlight.delete(blob));
      inFlight.set(blob, running);
    }
    await running;
  }
  return r.cache.linkSnapshot(meta.commit, filename, meta.etag);
}

/**
 * Whether the repository has the file at the revision, without downloading it: the cache answers when it
 * can, else a HEAD. Offline, a file the cache knows nothing of counts as absent.
 */
export async function hubFileExists(repoId: string, filename: string, options: HubDownloadOptions = {}): Promise<boolean> {
  const r = await fileRequest(repoId, filename, options);
  try {
    if ((await cachedPath(r)) != null) return true;
    await remoteMetadata(r);
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
