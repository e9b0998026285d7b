/**
 * Where the page's models and adapters come from: a typed Hub id or URL (a Hub id becomes its
 * huggingface.co resolve URL: in a browser there is no Hub cache), or files dropped or picked, which
 * become a CheckpointSource read from memory.
 */
import { isHubId } from '../../io/hub.js';
import { type CheckpointSource, SourceFileNotFoundError } from '../../io/source.js';

/** A model as the page loads it: a base URL, or files the user gave. */
export type PageSource = string | CheckpointSource;

/** A Hub id, an absolute http(s) URL or a path on this server, as the base URL of a checkpoint folder. */
export function sourceUrl(text: string, page: string): string {
  const given = text.trim();
  if (given === '') throw new Error('give a Hub id, a URL or a folder');
  if (isHubId(given)) return `https://huggingface.co/${given}/resolve/main/`;
  const url = new URL(given, page);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`not an http(s) URL: ${given}`);
  return url.href.endsWith('/') ? url.href : `${url.href}/`;
}

/** Files by their own name (a picked folder's path prefix dropped); a name given twice is an error. */
export function filesSource(files: readonly File[], location: string): CheckpointSource {
  const byName = new Map<string, File>();
  for (const file of files) {
    if (byName.has(file.name)) throw new Error(`two files named ${file.name} in ${location}`);
    byName.set(file.name, file);
  }
  return {
    location,
    exists: async (name) => byName.has(name),
    read: async (name, onProgress) => {
      const file = byName.get(name);
      if (file == null) throw new SourceFileNotFoundError(name, `not among the files of ${location}`);
      const bytes = new Uint8Array(await file.arrayBuffer());
      onProgress?.({ file: name, loaded: bytes.byteLength, total: bytes.byteLength });
      return bytes;
    },
  };
}

/**
 * The files of a folder picked with the folder picker, which lists its subfolders' too (a training
 * run's checkpoint-N/ hold another config.json): the folder's own files, as a drop takes them.
 */
export function pickedFiles(list: readonly File[]): { files: File[]; name: string } {
  const files = list.filter((f) => f.webkitRelativePath.split('/').length <= 2);
  return { files, name: list[0]?.webkitRelativePath.split('/')[0] || 'picked folder' };
}

/** The files of a drop: a dropped folder's own files (not its subfolders), or the files dropped themselves. */
export async function droppedFiles(data: DataTransfer): Promise<{ files: File[]; name: string }> {
  const entries = [...data.items].map((item) => item.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e != null);
  const folder = entries.find((e): e is FileSystemDirectoryEntry => e.isDirectory);
  if (folder == null) return { files: [...data.files], name: 'dropped files' };
  const reader = folder.createReader();
  const children: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    children.push(...batch);
  }
  const files = await Promise.all(children.filter((e): e is FileSystemFileEntry => e.isFile)
    .map((e) => new Promise<File>((resolve, reject) => e.file(resolve, reject))));
  return { files, name: `folder ${folder.name}` };
}
