/**
 * The Hugging Face Hub cache layout, as Python's huggingface_hub writes it, so that files either side
 * downloaded are reused by the other:
 *
 *   <cache>/models--<owner>--<name>/refs/<revision>            the commit hash the revision pointed at
 *   <cache>/models--<owner>--<name>/blobs/<etag>               file contents, named by their etag
 *   <cache>/models--<owner>--<name>/snapshots/<commit>/<file>  relative symlink to ../../blobs/<etag>
 *   <cache>/models--<owner>--<name>/.no_exist/<commit>/<file>  empty: the Hub said 404 for this file at this commit
 */
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

const COMMIT_HASH = /^[0-9a-f]{40}$/;

export function isCommitHash(revision: string): boolean {
  return COMMIT_HASH.test(revision);
}

/** `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub` (read at call time, as tests change them). */
function defaultHubCacheDir({ path, os }: NodeModules): string {
  const env = process.env;
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return path.join(env.HF_HOME, 'hub');
  return path.join(os.homedir(), '.cache', 'huggingface', 'hub');
}

/** The cache folder of one model repository, under `cacheDir` or the default hub cache. */
export async function openRepoCache(cacheDir: string | undefined, repoId: string): Promise<RepoCache> {
  const modules = await nodeModules();
  return new RepoCache(modules, modules.path.join(cacheDir ?? defaultHubCacheDir(modules), `models--${repoId.split('/').join('--')}`));
}

/** One model repository's folder in the cache. */
export class RepoCache {
  private readonly fs: NodeModules['fs'];
  private readonly path: NodeModules['path'];

  constructor({ fs, path }: NodeModules, readonly dir: string) {
    this.fs = fs;
    this.path = path;
  }

  blobPath(etag: string): string {
    return this.path.join(this.dir, 'blobs', etag);
  }

  snapshotPath(commit: string, filename: string): string {
    return this.path.join(this.dir, 'snapshots', commit, ...filename.split('/'));
  }

  noExistPath(commit: string, filename: string): string {
    return this.path.join(this.dir, '.no_exist', commit, ...filename.split('/'));
  }

  /** Remembers a 404, so that asking again (optional files such as a shard index) needs no request. */
  async markMissing(commit: string, filename: string): Promise<void> {
    const path = this.noExistPath(commit, filename);
    await this.fs.mkdir(this.path.dirname(path), { recursive: true });
    await this.fs.writeFile(path, '');
  }

  /** The commit a branch or tag last resolved to here, or null when it never did. */
  async readRef(revision: string): Promise<string | null> {
    try {
      const commit = (await this.fs.readFile(this.path.join(this.dir, 'refs', ...revision.split('/')), 'utf8')).trim();
      return isCommitHash(commit) ? commit : null;
    } catch {
      return null;
    }
  }

  async writeRef(revision: string, commit: string): Promise<void> {
    if (revision === commit) return;
    const path = this.path.join(this.dir, 'refs', ...revision.split('/'));
    await this.fs.mkdir(this.path.dirname(path), { recursive: true });
    await this.fs.writeFile(path, commit);
  }

  /** Points `snapshots/<commit>/<file>` at the blob: a relative symlink, or a copy where symlinks fail (Windows without developer mode, some mounts). */
  async linkSnapshot(commit: string, filename: string, etag: string): Promise<string> {
    const pointer = this.snapshotPath(commit, filename);
    const blob = this.blobPath(etag);
    await this.fs.mkdir(this.path.dirname(pointer), { recursive: true });
    await this.fs.rm(pointer, { force: true });
    try {
      await this.fs.symlink(this.path.relative(this.path.dirname(pointer), blob), pointer);
    } catch {
      await this.fs.copyFile(blob, pointer);
    }
    return pointer;
  }

  /** Whether a path exists, following symlinks (a dangling snapshot link is not a cached file). */
  async exists(path: string): Promise<boolean> {
    return (await this.fs.stat(path).catch(() => null)) != null;
  }

  /**
   * Runs `body` holding `blobs/<etag>.incomplete.lock`, so that two processes never write one blob's
   * `.incomplete` file. The lock file holds its owner's pid and appears atomically (a hard link to a
   * file already written); a lock whose process has exited is taken over.
   */
  async withBlobLock<T>(etag: string, body: () => Promise<T>): Promise<T> {
    const lock = `${this.blobPath(etag)}.incomplete.lock`;
    const mine = `${lock}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    await this.fs.mkdir(this.path.dirname(lock), { recursive: true });
    await this.fs.writeFile(mine, String(process.pid));
    try {
      for (;;) {
        try {
          await this.fs.link(mine, lock);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        const owner = Number(await this.fs.readFile(lock, 'utf8').catch(() => '0'));
        if (isRunning(owner)) await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
        else await this.fs.rm(lock, { force: true });
      }
    } finally {
      await this.fs.rm(mine, { force: true });
    }
    try {
      return await body();
    } finally {
      await this.fs.rm(lock, { force: true });
    }
  }
}

const LOCK_POLL_MS = 200;

function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
