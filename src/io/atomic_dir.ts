/**
 * Atomic folder writes: the files go into a hidden folder beside the target, are fsynced, and the
 * folder is renamed into place (the old one moved aside first, then removed). A kill at any moment
 * leaves the old folder or the new one, whole; what a killed writer left behind (its half-written
 * folder, or the old folder moved aside just before the swap) is cleaned or put back by
 * `recoverDir`, which every save and every local load runs first.
 * Node only: node:fs is loaded on use, so browsers can still import the modules that use this.
 */
type Fs = typeof import('node:fs/promises');
type Path = typeof import('node:path');

const SAVING = 'saving';
const REPLACED = 'replaced';

async function node(): Promise<{ fs: Fs; path: Path }> {
  const [fs, path] = await Promise.all([import('node:fs/promises'), import('node:path')]);
  return { fs, path };
}

/** `.<name>.<kind>-<pid>-<random>`: hidden, beside the target (same file system, so rename is atomic). */
function sideName(base: string, kind: string, pid: number): string {
  return `.${base}.${kind}-${pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Any writer's side folder, of whatever target. */
const SIDE_ENTRY = /^\..+\.(?:saving|replaced)-\d+-[a-z0-9]+$/;

function parseSide(base: string, entry: string): { kind: string; pid: number } | null {
  const prefix = `.${base}.`;
  if (!entry.startsWith(prefix)) return null;
  const m = /^(saving|replaced)-(\d+)-[a-z0-9]+$/.exec(entry.slice(prefix.length));
  return m == null ? null : { kind: m[1], pid: Number(m[2]) };
}

/** Whether a process of that id runs (EPERM: it does, as another user). */
function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ignoreMissing(e: unknown): void {
  if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
}

/**
 * Repairs what a killed writer of `target`, or of the folder around it, left: when a folder is missing
 * (killed between moving the old folder aside and renaming the new one in) the old folder goes back;
 * leftovers of writers that no longer run are removed. Writers still running (this process included)
 * are left alone. The folder around comes first (a checkpoint into an --out whose own save was killed
 * mid-swap): made anew, it would hide the old one, which the next save of it would then remove.
 */
export async function recoverDir(target: string): Promise<void> {
  const { path } = await node();
  const full = path.resolve(target);
  if (path.dirname(full) !== full) await recoverEntry(path.dirname(full));
  await recoverEntry(full);
}

/** recoverDir for `full` itself (an absolute path). */
async function recoverEntry(full: string): Promise<void> {
  const { fs, path } = await node();
  const parent = path.dirname(full);
  const base = path.basename(full);
  let entries: string[];
  try {
    entries = await fs.readdir(parent);
  } catch {
    return; // no parent folder: nothing was ever written here
  }
  const dead = entries.map((e) => ({ entry: e, side: parseSide(base, e) }))
    .filter(({ side }) => side != null && !alive(side.pid));
  if (dead.length === 0) return;
  const exists = await fs.lstat(full).then(() => true, () => false);
  const replaced = dead.find(({ side }) => side!.kind === REPLACED);
  if (!exists && replaced != null) {
    await fs.rename(path.join(parent, replaced.entry), full).catch(ignoreMissing);
  }
  for (const { entry } of dead) {
    if (entry === replaced?.entry && !exists) continue;
    await fs.rm(path.join(parent, entry), { recursive: true, force: true });
  }
}

/**
 * Puts into `to` what `from` holds and `to` lacks (another process's side folders aside), as hard
 * links: the old folder stays whole until the swap, and nothing large is copied. Where the file
 * system has no hard links the files are copied.
 */
async function keepOldEntries(fs: Fs, path: Path, from: string, to: string): Promise<void> {
  const present = new Set(await fs.readdir(to));
  for (const entry of await fs.readdir(from, { withFileTypes: true })) {
    if (present.has(entry.name) || SIDE_ENTRY.test(entry.name)) continue;
    const [src, dst] = [path.join(from, entry.name), path.join(to, entry.name)];
    if (entry.isDirectory()) {
      await fs.mkdir(dst);
      await keepOldEntries(fs, path, src, dst);
    } else if (entry.isSymbolicLink()) {
      await fs.symlink(await fs.readlink(src), dst);
    } else if (entry.isFile()) {
      await fs.link(src, dst).catch(() => fs.copyFile(src, dst));
    }
  }
}

/** fsyncs every file under `dir`, then each folder (so the names are durable too). */
async function syncTree(fs: Fs, path: Path, dir: string): Promise<void> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await syncTree(fs, path, full);
    else if (entry.isFile()) await syncPath(fs, full);
  }
  await syncDir(fs, dir);
}

async function syncPath(fs: Fs, file: string): Promise<void> {
  const handle = await fs.open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Windows cannot open a folder to fsync it; its renames are durable through the journal instead. */
async function syncDir(fs: Fs, dir: string): Promise<void> {
  try {
    await syncPath(fs, dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (process.platform !== 'win32' || (code !== 'EPERM' && code !== 'EISDIR' && code !== 'EACCES')) throw e;
  }
}

/**
 * Writes a folder atomically: `write` fills a new empty folder (its path is the argument), which
 * then replaces `target` whole. `target`, when it exists, must be a folder; the files `write`
 * writes replace their namesakes and everything else it held is kept (as save_pretrained keeps a
 * folder's other files: a tokenizer, checkpoints). A failing `write` leaves the target as it was.
 */
export async function writeDirAtomic(target: string, write: (dir: string) => Promise<void>): Promise<void> {
  if (typeof target !== 'string' || target === '') {
    throw new TypeError(`'dir' (the folder to write) must be a non-empty path string, got ${describe(target)}`);
  }
  const { fs, path } = await node();
  const full = path.resolve(target);
  const parent = path.dirname(full);
  const base = path.basename(full);
  await recoverDir(full);   // (before the folder around it is made: an aside one goes back first)
  await fs.mkdir(parent, { recursive: true });
  const existing = await fs.lstat(full).catch(() => null);
  if (existing?.isSymbolicLink()) {
    // A link to a folder (`latest` -> `run-3`): the folder it leads to is replaced, and the link stays.
    const real = await fs.realpath(full).catch(() => null);
    const info = real == null ? null : await fs.stat(real);
    if (real == null || !info!.isDirectory()) {
      throw new Error(`cannot save to ${target}: it is a symbolic link to ${real ?? 'nothing (a broken link)'}, not to a folder`);
    }
    return writeDirAtomic(real, write);
  }
  if (existing != null && !existing.isDirectory()) throw new Error(`cannot save to ${target}: it exists and is not a folder`);

  const temp = path.join(parent, sideName(base, SAVING, process.pid));
  await fs.mkdir(temp);
  try {
    await write(temp);
    if (existing != null) await keepOldEntries(fs, path, full, temp);
    await syncTree(fs, path, temp);
  } catch (e) {
    await fs.rm(temp, { recursive: true, force: true });
    throw e;
  }
  // rename() cannot replace a non-empty folder, so the old one steps aside for the moment between.
  const aside = existing != null ? path.join(parent, sideName(base, REPLACED, process.pid)) : null;
  if (aside != null) await fs.rename(full, aside);
  try {
    await fs.rename(temp, full);
  } catch (e) {
    if (aside != null) await fs.rename(aside, full).catch(() => undefined);
    await fs.rm(temp, { recursive: true, force: true });
    throw e;
  }
  await syncDir(fs, parent);
  if (aside != null) await fs.rm(aside, { recursive: true, force: true });
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `''` : value === null ? 'null' : typeof value;
}
