/**
 * The hash a Hub blob is named by, computed from the file on disk: sha256 of the bytes for LFS files,
 * git's blob hash (sha1 of `blob <length>\0` + the bytes) for the rest. Node's crypto, imported on
 * first use (browsers never reach the cache).
 */
import type { BlobHashKind } from './hub_names.js';

const CHUNK = 4 * 1024 * 1024;

export async function hashFile(path: string, kind: BlobHashKind): Promise<string> {
  const [{ createHash }, { open }] = await Promise.all([import('node:crypto'), import('node:fs/promises')]);
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const hash = createHash(kind === 'sha256' ? 'sha256' : 'sha1');
    if (kind === 'git-sha1') hash.update(`blob ${size}\0`);
    const buffer = new Uint8Array(Math.min(CHUNK, Math.max(size, 1)));
    for (let at = 0; at < size;) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - at), at);
      if (bytesRead === 0) break; // shrank while read: the hash will not match
      hash.update(buffer.subarray(0, bytesRead));
      at += bytesRead;
    }
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}
