/**
 * Reads a training corpus into records: JSONL (`{"text": ...}` per line), or plain text split on
 * lines holding only `%` (fortune files) or, where there are none, on blank lines.
 */
/** Splits text into records; empty records are dropped. */
export function splitRecords(text: string): string[] {
  const normalized = text.replace(/\r\n?/g, '\n');
  const separator = /^%$/m.test(normalized) ? /^%(?:\n|$)/m : /\n\s*\n/;
  return normalized.split(separator).map((r) => r.replace(/^\n+|\s+$/g, '')).filter((r) => r.length > 0);
}

/** One record per non-empty line of JSON Lines, each an object with a string `text`. */
export function parseJsonl(text: string, location = 'JSONL'): string[] {
  const records: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      throw new Error(`${location}:${i + 1}: not valid JSON (${(err as Error).message})`);
    }
    const value = (obj as { text?: unknown } | null)?.text;
    if (typeof value !== 'string') throw new Error(`${location}:${i + 1}: expected an object with a string "text" field`);
    if (value.length > 0) records.push(value);
  });
  return records;
}

/** Reads `path` (JSONL by a .jsonl/.json extension, plain text otherwise); an empty corpus is an error. */
export async function readCorpus(path: string): Promise<string[]> {
  // Loaded here, not at the top: browsers import this package too.
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`data file not found: ${path}`);
    throw err;
  }
  const records = /\.jsonl?$/i.test(path) ? parseJsonl(text, path) : splitRecords(text);
  if (records.length === 0) throw new Error(`the corpus ${path} holds no records`);
  return records;
}
