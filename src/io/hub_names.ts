/**
 * The rules every name that reaches a path in the Hub cache must pass, whoever chose it: repository ids,
 * revisions and file names from the caller, ETags and commit hashes from the server. As huggingface_hub:
 * a commit is 40 hex digits, a blob is named by its hash (git sha1, or sha256 for LFS files), a file name
 * is relative with no `.`/`..` parts, and a revision is a git ref name (quoted in URLs, kept in refs/ only
 * when its parts are plain names).
 */
import { HubInvalidNameError } from './hub_errors.js';

const REPO_PART = /^(?!.*(--|\.\.))[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9])?$/;
const COMMIT_HASH = /^[0-9a-f]{40}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const MAX_NAME = 1024;

/** Whether `source` is shaped like a Hub model id, `owner/name` (check for a local folder first: `a/b` is both). */
export function isHubId(source: string): boolean {
  const parts = source.split('/');
  return parts.length === 2 && parts.every((part) => REPO_PART.test(part)) && !source.endsWith('.git');
}

export function checkRepoId(repoId: unknown): string {
  if (typeof repoId !== 'string' || !isHubId(repoId)) {
    throw new HubInvalidNameError(`not a Hub model id (owner/name): ${JSON.stringify(repoId)}`);
  }
  return repoId;
}

export function isCommitHash(revision: string): boolean {
  return COMMIT_HASH.test(revision);
}

const CONTROL = /[\u0000-\u001f\u007f]/;

/** A file of a repository: a relative path of plain parts, `/`-separated, as the Hub lists them. */
export function checkFilename(filename: unknown): string {
  const parts = typeof filename === 'string' ? filename.split('/') : [];
  if (typeof filename !== 'string' || filename === '' || filename.length > MAX_NAME || CONTROL.test(filename)
      || filename.includes('\\') || /^[A-Za-z]:/.test(filename)
      || parts.some((part) => part === '' || part === '.' || part === '..')) {
    throw new HubInvalidNameError(`invalid file name in a Hub repository: ${JSON.stringify(filename)} `
      + '(expected a relative path without empty, "." or ".." parts)');
  }
  return filename;
}

/**
 * A branch, tag or commit: git's ref-name rules (`git check-ref-format`), which also keep every
 * `/`-separated part from being empty, `.` or `..`.
 */
export function checkRevision(revision: unknown): string {
  const ok = typeof revision === 'string' && revision !== '' && revision.length <= 255 && revision !== '@'
    && !CONTROL.test(revision) && !/[ ~^:?*[\\]/.test(revision) && !revision.includes('..') && !revision.includes('@{')
    && !revision.endsWith('.') && revision.split('/').every((part) => part !== '' && !part.startsWith('.') && !part.endsWith('.lock'));
  if (!ok) {
    throw new HubInvalidNameError(`invalid revision ${JSON.stringify(revision)}: expected a branch, tag or commit hash `
      + '(a git ref name: no "..", no empty or dot-led parts, no spaces or control characters)');
  }
  return revision;
}

/** Whether refs/<revision> may be written: parts of letters, digits, `_`, `-` and `.` only (safe on every file system). */
export function isStorableRef(revision: string): boolean {
  return revision.split('/').every((part) => /^[\w-][\w.-]*$/.test(part));
}

/** How a blob's name says its contents are hashed. */
export type BlobHashKind = 'git-sha1' | 'sha256';

export function blobHashKind(etag: string): BlobHashKind | null {
  if (COMMIT_HASH.test(etag)) return 'git-sha1';
  if (SHA256.test(etag)) return 'sha256';
  return null;
}

/** The ETag as a blob name: quotes and a weak `W/` prefix dropped, then it must be a hash. */
export function checkEtag(raw: string, what: string): string {
  const etag = raw.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
  if (blobHashKind(etag) == null) {
    throw new HubInvalidNameError(`the server's ETag ${JSON.stringify(raw)} for ${what} is not a git sha1 or a sha256 `
      + '(40 or 64 hex digits): it cannot name a blob in the cache, nor be checked against the download');
  }
  return etag;
}

export function checkCommit(raw: string | null, what: string): string {
  if (raw == null || !isCommitHash(raw)) {
    throw new HubInvalidNameError(`the server's X-Repo-Commit ${JSON.stringify(raw)} for ${what} is not a commit hash `
      + '(40 hex digits); is the endpoint a Hugging Face Hub?');
  }
  return raw;
}
