/**
 * The Hugging Face Hub cache layout, as Python's huggingface_hub writes it, so that files either side
 * downloaded are reused by the other:
 *
 *   <cache>/models--<owner>--<name>/refs/<revision>            the commit hash the revision pointed at
 *   <cache>/models--<owner>--<name>/blobs/<etag>               file contents, named by their etag
 *   <cache>/models--<owner>--<name>/snapshots/<commit>/<file>  relative symlink to ../../blobs/<etag>
 *   <cache>/models--<owner>--<name>/.no_exist/<commit>/<file>  empty: the Hub said 404 for this file at this commit
 */
import { copyFile, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';

const COMMIT_HASH = /^[0-9a-f]{40}$/;

export function isCommitHash(revision: string): boolean {
  return COMMIT_HASH.test(revision);
}

/** `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub` (read at call time, as tests change them). */
export function defaultHubCacheDir(): string {
  const env = process.env;
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return join(env.HF_HOME, 'hub');
  return join(homedir(), '.cache', 'huggingface', 'hub');
}

/** One model repository's folder in the cache. */
export class RepoCache {
  readonly dir: string;

  constructor(cacheDir: string, repoId: string) {
    this.dir = join(cacheDir, `models--${repoId.split('/').join('--')}`);
  }

  blobPath(etag: string): string {
    return join(this.dir, 'blobs', etag);
  }

  snapshotPath(commit: string, filename: string): string {
    return join(this.dir, 'snapshots', commit, ...filename.split('/'));
  }

  noExistPath(commit: string, filename: string): string {
    return join(this.dir, '.no_exist', commit, ...filename.split('/'));
  }

  /** Remembers a 404, so that asking again (optional files such as a shard index) needs no request. */
  async markMissing(commit: string, filename: string): Promise<void> {
    const path = this.noExistPath(commit, filename);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, '');
  }

  /** The commit a branch or tag last resolved to here, or null when it never did. */
  async readRef(revision: string): Promise<string | null> {
    try {
      const commit = (await readFile(join(this.dir, 'refs', ...revision.split('/')), 'utf8')).trim();
      return isCommitHash(commit) ? commit : null;
    } catch {
      return null;
    }
  }

  async writeRef(revision: string, commit: string): Promise<void> {
    if (revision === commit) return;
    const path = join(this.dir, 'refs', ...revision.split('/'));
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, commit);
  }

  /** Points `snapshots/<commit>/<file>` at the blob: a relative symlink, or a copy where symlinks fail (Windows without developer mode, some mounts). */
  async linkSnapshot(commit: string, filename: string, etag: string): Promise<string> {
    const pointer = this.snapshotPath(commit, filename);
    const blob = this.blobPath(etag);
    await mkdir(dirname(pointer), { recursive: true });
    await rm(pointer, { force: true });
    try {
      await symlink(relative(dirname(pointer), blob), pointer);
    } catch {
      await copyFile(blob, pointer);
    }
    return pointer;
  }
}

/** Whether a path exists, following symlinks (a dangling snapshot link is not a cached file). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
