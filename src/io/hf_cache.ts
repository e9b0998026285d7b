/**
 * The Hugging Face Hub cache layout, as Python's huggingface_hub writes it, so that files either side
 * downloaded are reused by the other:
 *
 *   <cache>/models--<owner>--<name>/refs/<revision>            the commit hash the revision pointed at
 *   <cache>/models--<owner>--<name>/blobs/<etag>               file contents, named by their hash
 *   <cache>/models--<owner>--<name>/snapshots/<commit>/<file>  relative symlink to ../../blobs/<etag>
 *   <cache>/models--<owner>--<name>/.no_exist/<commit>/<file>  empty: the Hub said 404 for this file at this commit
 *
 * It trusts nothing on disk or from the server: every name is checked (hub_names.ts) before it becomes a
 * path, every path is resolved through its symlinks and must stay inside the repository's folder, files
 * are written beside their target and renamed into place, and a blob is served only while its contents
 * hash to its name.
 */
import { hashFile } from './blob_hash.js';
import { HubIntegrityError, HubInvalidNameError, HubUnsafePathError } from './hub_errors.js';
import { blobHashKind, checkFilename, checkRepoId, isCommitHash, isStorableRef } from './hub_names.js';

export { isCommitHash } from './hub_names.js';

export interface NodeModules {
  fs: typeof import('node:fs/promises');
  path: typeof import('node:path');
  os: typeof import('node:os');
}

let node: Promise<NodeModules> | null = null;

/** Node's fs, path and os, imported on first use, so that browsers can import this package (the cache needs Node). */
export function nodeModules(): Promise<NodeModules> {
  node ??= Promise.all([import('node:fs/promises'), import('node:path'), import('node:os')])
    .then(([fs, path, os]) => ({ fs, path, os }), (err: unknown) => {
      node = null;
      throw new Error('Hub ids need Node.js (the Hugging Face cache is on disk); elsewhere, pass an https:// base URL', { cause: err });
    });
  return node;
}

/**
 * A path from the environment as huggingface_hub reads it: a leading `~` is the home folder, and
 * `$NAME` / `${NAME}` are expanded where NAME is set (os.path.expanduser, then expandvars).
 */
export function expandPath(value: string, { path, os }: NodeModules): string {
  const home = value === '~' || value.startsWith('~/') || value.startsWith(`~${path.sep}`) ? os.homedir() + value.slice(1) : value;
  return home.replace(/\$(\w+)|\$\{(\w+)\}/g, (whole, a?: string, b?: string) => process.env[(a ?? b)!] ?? whole);
}

/** `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`: where huggingface_hub keeps its cache and token. */
export function hfHome(modules: NodeModules): string {
  const env = process.env;
  return expandPath(env.HF_HOME || modules.path.join(env.XDG_CACHE_HOME || modules.path.join(modules.os.homedir(), '.cache'), 'huggingface'), modules);
}

/**
 * `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE` (the older name), else hfHome's `hub`, as huggingface_hub
 * reads them, so that both share one cache (read at call time, as tests change them).
 */
function defaultHubCacheDir(modules: NodeModules): string {
  const env = process.env;
  return expandPath(env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || modules.path.join(hfHome(modules), 'hub'), modules);
}

/** The cache folder of one model repository, under `cacheDir` or the default hub cache. */
export async function openRepoCache(cacheDir: string | undefined, repoId: string): Promise<RepoCache> {
  const modules = await nodeModules();
  const folder = `models--${checkRepoId(repoId).split('/').join('--')}`;
  return new RepoCache(modules, modules.path.resolve(cacheDir ?? defaultHubCacheDir(modules), folder));
}

/** What a snapshot entry is worth. */
export type SnapshotState =
  | { state: 'missing' }
  | { state: 'ok'; path: string }
  /** Present but not to be served: `error` says why (a link outside the cache, a blob that fails its hash). */
  | { state: 'bad'; error: Error };

/** Blobs whose hash was checked in this process, by path, with the file identity and times they had then. */
const verified = new Map<string, string>();

/** One model repository's folder in the cache. */
export class RepoCache {
  private readonly fs: NodeModules['fs'];
  private readonly path: NodeModules['path'];
  private realDir: string | null = null;

  constructor({ fs, path }: NodeModules, readonly dir: string) {
    this.fs = fs;
    this.path = path;
  }

  blobPath(etag: string): string {
    if (blobHashKind(etag) == null) throw new HubInvalidNameError(`not a blob name (a sha1 or sha256): ${JSON.stringify(etag)}`);
    return this.path.join(this.dir, 'blobs', etag);
  }

  snapshotPath(commit: string, filename: string): string {
    return this.path.join(this.dir, 'snapshots', checkedCommit(commit), ...checkFilename(filename).split('/'));
  }

  noExistPath(commit: string, filename: string): string {
    return this.path.join(this.dir, '.no_exist', checkedCommit(commit), ...checkFilename(filename).split('/'));
  }

  /** Throws unless `target`, with every symlink on its way resolved, stays inside this repository's folder. */
  async assertInside(target: string): Promise<void> {
    const root = await this.root();
    const resolved = await this.resolveLinks(target);
    if (resolved !== root && !resolved.startsWith(root + this.path.sep)) {
      throw new HubUnsafePathError(`${target} leads to ${resolved}, outside the cache folder ${this.dir}; refusing to use it`);
    }
  }

  /**
   * `target` with every symlink on its way resolved; parts that do not exist yet count as plain names
   * (they will be made as folders). Nothing is created: a read-only cache stays readable.
   */
  private async resolveLinks(target: string): Promise<string> {
    let existing = target;
    const rest: string[] = [];
    for (;;) {
      const real = await this.fs.realpath(existing).catch(() => null);
      if (real != null) return this.path.join(real, ...rest);
      // A link to nowhere on the way would have folders made (or files written) wherever it points.
      if ((await this.fs.lstat(existing).catch(() => null))?.isSymbolicLink()) {
        throw new HubUnsafePathError(`${existing} is a dangling link on the way to ${target}; refusing to use it`);
      }
      const parent = this.path.dirname(existing);
      if (parent === existing) return this.path.join(existing, ...rest);
      rest.unshift(this.path.basename(existing));
      existing = parent;
    }
  }

  /** The repository folder's real path; the folder itself must not be a link elsewhere. */
  private async root(): Promise<string> {
    if (this.realDir != null) return this.realDir;
    const expected = this.path.join(await this.resolveLinks(this.path.dirname(this.dir)), this.path.basename(this.dir));
    const info = await this.fs.lstat(this.dir).catch(() => null);
    if (info != null && !info.isDirectory()) {
      throw new HubUnsafePathError(`the cache folder ${this.dir} is not a folder (a link or a file); refusing to use it`);
    }
    this.realDir = expected;
    return expected;
  }

  /**
   * Makes the folder that will hold `file`, after checking the way there. `file` itself is not followed:
   * callers replace it by a rename, or remove what is there, never write through it.
   */
  private async prepare(file: string): Promise<void> {
    const folder = this.path.dirname(file);
    await this.assertInside(folder);
    await this.fs.mkdir(folder, { recursive: true });
    await this.assertInside(folder);
  }

  /** Writes `file` whole or not at all: a file beside it, renamed over it (which replaces a link, never its target). */
  private async writeAtomic(file: string, contents: string): Promise<void> {
    await this.prepare(file);
    const temporary = temporaryBeside(this.path, file);
    try {
      await this.fs.writeFile(temporary, contents, { flag: 'wx' });
      await this.fs.rename(temporary, file);
    } finally {
      await this.fs.rm(temporary, { force: true });
    }
  }

  /**
   * Remembers a 404, so that asking again (optional files such as a shard index) needs no request.
   * A cache this process cannot write (read-only, another user's) keeps nothing, as huggingface_hub does.
   */
  async markMissing(commit: string, filename: string): Promise<void> {
    await ignoringReadOnly(this.writeAtomic(this.noExistPath(commit, filename), ''));
  }

  /** The commit a branch or tag last resolved to here, or null when it never did (or cannot be stored). */
  async readRef(revision: string): Promise<string | null> {
    if (!isStorableRef(revision)) return null;
    const file = this.path.join(this.dir, 'refs', ...revision.split('/'));
    await this.assertInside(file);
    const commit = (await this.fs.readFile(file, 'utf8').catch(() => '')).trim();
    return isCommitHash(commit) ? commit : null;
  }

  /** Records where a branch or tag points, when its name is safe to keep as a file. */
  async writeRef(revision: string, commit: string): Promise<void> {
    if (revision === commit || !isStorableRef(revision)) return;
    // (unchanged: nothing written, so a read-only cache serves a branch it has resolved)
    if (await this.readRef(revision) === checkedCommit(commit)) return;
    await this.writeAtomic(this.path.join(this.dir, 'refs', ...revision.split('/')), commit);
  }

  /**
   * Points `snapshots/<commit>/<file>` at the blob: a relative symlink, or a copy where symlinks fail
   * (Windows without developer mode, some mounts); made beside the pointer and renamed over it.
   */
  async linkSnapshot(commit: string, filename: string, etag: string): Promise<string> {
    const pointer = this.snapshotPath(commit, filename);
    const blob = this.blobPath(etag);
    await this.prepare(pointer);
    const temporary = temporaryBeside(this.path, pointer);
    try {
      try {
        await this.fs.symlink(this.path.relative(this.path.dirname(pointer), blob), temporary);
      } catch {
        await this.fs.copyFile(blob, temporary);
      }
      await this.fs.rename(temporary, pointer);
    } finally {
      await this.fs.rm(temporary, { force: true });
    }
    return pointer;
  }

  /** Whether a 404 for the file at the commit is remembered. */
  async isMarkedMissing(commit: string, filename: string): Promise<boolean> {
    const marker = this.noExistPath(commit, filename);
    await this.assertInside(marker);
    return this.exists(marker);
  }

  /** Whether a path exists, following symlinks (a dangling snapshot link is not a cached file). */
  async exists(path: string): Promise<boolean> {
    return (await this.fs.stat(path).catch(() => null)) != null;
  }

  /**
   * Null when `blobs/<etag>` hashes to its name, else the hash it has. Checked once per process while
   * the file stays the same (inode, size, modification time).
   */
  async blobMismatch(etag: string): Promise<string | null> {
    const blob = this.blobPath(etag);
    await this.assertInside(blob);
    const info = await this.fs.stat(blob);
    const identity = `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}`;
    if (verified.get(blob) === identity) return null;
    const actual = await hashFile(blob, blobHashKind(etag)!);
    if (actual !== etag) return actual;
    verified.set(blob, identity);
    return null;
  }

  /**
   * Whether `snapshots/<commit>/<file>` can be served: a link to a blob of this cache whose contents match
   * its name (or a copy, made from a checked blob where symlinks fail). `verify: false` skips the hash.
   */
  async checkSnapshot(commit: string, filename: string, verify: boolean): Promise<SnapshotState> {
    const pointer = this.snapshotPath(commit, filename);
    try {
      await this.assertInside(this.path.dirname(pointer)); // before looking at anything through its folders
    } catch (err) {
      return { state: 'bad', error: err as Error };
    }
    const info = await this.fs.lstat(pointer).catch(() => null);
    if (info == null) return { state: 'missing' };
    let etag: string | null = null;
    if (info.isSymbolicLink()) {
      const target = this.path.resolve(this.path.dirname(pointer), await this.fs.readlink(pointer));
      etag = this.path.basename(target);
      if (blobHashKind(etag) == null || target !== this.path.join(this.dir, 'blobs', etag)) {
        return { state: 'bad', error: new HubUnsafePathError(`${pointer} links to ${target}, not to a blob of the cache folder ${this.dir}`) };
      }
      if (!(await this.exists(target))) return { state: 'missing' }; // its blob was deleted
    } else if (!info.isFile()) {
      return { state: 'bad', error: new HubUnsafePathError(`${pointer} is not a file or a link to a blob`) };
    }
    try {
      await this.assertInside(pointer);
    } catch (err) {
      return { state: 'bad', error: err as Error };
    }
    if (etag == null || !verify) return { state: 'ok', path: pointer };
    const actual = await this.blobMismatch(etag);
    if (actual == null) return { state: 'ok', path: pointer };
    return { state: 'bad', error: integrityError(filename, etag, actual, `its cached blob ${this.blobPath(etag)}`) };
  }

  /**
   * Opens `blobs/<etag>.incomplete` for writing (appending to resume, else from empty), never through a
   * link: one planted there would make the download write elsewhere.
   */
  async openIncomplete(etag: string, append: boolean): Promise<import('node:fs/promises').FileHandle> {
    const partial = `${this.blobPath(etag)}.incomplete`;
    await this.prepare(partial);
    const { constants } = await import('node:fs');
    const info = await this.fs.lstat(partial).catch(() => null);
    if (info != null && !info.isFile()) await this.fs.rm(partial, { recursive: true, force: true });
    const flags = constants.O_WRONLY | constants.O_CREAT | (append ? constants.O_APPEND : constants.O_TRUNC)
      | (constants.O_NOFOLLOW ?? 0);
    return this.fs.open(partial, flags, 0o644);
  }

  /** Bytes already in `blobs/<etag>.incomplete` (0 when there is none, or it is not a plain file). */
  async incompleteSize(etag: string): Promise<number> {
    const info = await this.fs.lstat(`${this.blobPath(etag)}.incomplete`).catch(() => null);
    return info?.isFile() ? info.size : 0;
  }

  async discardIncomplete(etag: string): Promise<void> {
    await this.fs.rm(`${this.blobPath(etag)}.incomplete`, { force: true });
  }

  /**
   * Renames `blobs/<etag>.incomplete` to the blob once its contents hash to `etag`; otherwise deletes it
   * (a corrupt download is never resumed) and throws a `HubIntegrityError`.
   */
  async commitIncomplete(etag: string, filename: string): Promise<void> {
    const blob = this.blobPath(etag);
    const partial = `${blob}.incomplete`;
    await this.assertInside(partial);
    const actual = await hashFile(partial, blobHashKind(etag)!);
    if (actual !== etag) {
      await this.fs.rm(partial, { force: true });
      throw integrityError(filename, etag, actual, 'the download');
    }
    await this.fs.rename(partial, blob);
    const info = await this.fs.stat(blob);
    verified.set(blob, `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}`);
  }

  /**
   * Runs `body` holding `blobs/<etag>.incomplete.lock`, so that two processes never write one blob's
   * `.incomplete` file. The lock file holds its owner's pid and appears atomically (a hard link to a
   * file already written); a lock whose process has exited is taken over. Should two writers still meet
   * (two takeovers of one stale lock, a program that ignores the lock), the hash check before the rename
   * keeps their mix out of the cache.
   */
  async withBlobLock<T>(etag: string, body: () => Promise<T>): Promise<T> {
    const lock = `${this.blobPath(etag)}.incomplete.lock`;
    await this.prepare(lock);
    const mine = temporaryBeside(this.path, lock);
    await this.fs.writeFile(mine, String(process.pid), { flag: 'wx' });
    try {
      for (;;) {
        try {
          await this.fs.link(mine, lock);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        if (await this.isStaleLock(lock)) await this.fs.rm(lock, { force: true });
        else await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
      }
    } finally {
      await this.fs.rm(mine, { force: true });
    }
    held.add(lock);
    // The lock's time says its holder lives: a waiter takes over one left untouched for LOCK_STALE_MS.
    const heartbeat = setInterval(() => {
      const now = new Date();
      this.fs.utimes(lock, now, now).catch(() => undefined);
    }, LOCK_HEARTBEAT_MS);
    (heartbeat as { unref?: () => void }).unref?.();
    try {
      return await body();
    } finally {
      clearInterval(heartbeat);
      held.delete(lock);
      await this.fs.rm(lock, { force: true });
    }
  }

  /**
   * A lock no live holder keeps: its process has exited; or it names this process, which does not
   * hold it (a container restarted as pid 1 over the cache its last run left); or its time has not
   * moved for LOCK_STALE_MS (a holder refreshes it every LOCK_HEARTBEAT_MS: a pid taken by another
   * process, or one of another machine or container sharing the cache, says nothing).
   */
  private async isStaleLock(lock: string): Promise<boolean> {
    const owner = Number(await this.fs.readFile(lock, 'utf8').catch(() => '0'));
    if (!isRunning(owner) || (owner === process.pid && !held.has(lock))) return true;
    const info = await this.fs.stat(lock).catch(() => null);
    return info != null && Date.now() - info.mtimeMs > LOCK_STALE_MS;
  }
}

function checkedCommit(commit: string): string {
  if (!isCommitHash(commit)) throw new HubInvalidNameError(`not a commit hash (40 hex digits): ${JSON.stringify(commit)}`);
  return commit;
}

function integrityError(filename: string, expected: string, actual: string, what: string): HubIntegrityError {
  return new HubIntegrityError(`Hub: ${what} of "${filename}" does not match its hash: expected ${expected}, `
    + `got ${actual} (${blobHashKind(expected) === 'sha256' ? 'sha256' : 'git blob sha1'})`, filename, expected, actual);
}

const LOCK_POLL_MS = 200;
const LOCK_HEARTBEAT_MS = 5_000;
const LOCK_STALE_MS = 30_000;

/** The blob locks this process holds. */
const held = new Set<string>();

/**
 * A temporary name beside `file`, short whatever the file's name (a name near the file system's 255
 * characters, which the Hub allows, would not take a suffix).
 */
function temporaryBeside(path: NodeModules['path'], file: string): string {
  return path.join(path.dirname(file), `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
}

/** Runs a write the cache can do without (a 404 remembered): a cache this process cannot write skips it. */
async function ignoringReadOnly(write: Promise<void>): Promise<void> {
  try {
    await write;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') throw err;
  }
}

function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
