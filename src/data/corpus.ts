/**
 * Reads a training corpus into records: JSONL (one object per line), a JSON array of objects, CSV
 * with a header row (each record the value of one field: `text` unless `textField` names another, as
 * TRL's `dataset_text_field`), or plain text split on lines holding only `%` (fortune files) or,
 * where there are none, on blank lines.
 */
export const DEFAULT_TEXT_FIELD = 'text';

export interface ReadCorpusOptions {
  /** The field (JSONL, JSON) or column (CSV) holding each record's text (default 'text'). */
  textField?: string;
}

/** Splits text into records; empty records are dropped. */
export function splitRecords(text: string): string[] {
  const normalized = text.replace(/\r\n?/g, '\n');
  const separator = /^%$/m.test(normalized) ? /^%(?:\n|$)/m : /\n\s*\n/;
  return normalized.split(separator).map((r) => r.replace(/^\n+|\s+$/g, '')).filter((r) => r.length > 0);
}

/** The string `field` of one record; a missing or non-string field names the fields the record has. */
function recordText(obj: unknown, field: string, where: string): string {
  if (obj == null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new Error(`${where}: expected an object with a string "${field}" field, got ${Array.isArray(obj) ? 'an array' : JSON.stringify(obj)}`);
  }
  const value = (obj as Record<string, unknown>)[field];
  if (typeof value === 'string') return value;
  const fields = Object.keys(obj).map((k) => `"${k}"`).join(', ') || 'none';
  if (value === undefined) {
    throw new Error(`${where}: no "${field}" field; the record has ${fields} (choose one with --text-field / textField)`);
  }
  throw new Error(`${where}: the "${field}" field is ${value === null ? 'null' : typeof value}, not a string`);
}

/** One record per non-empty line of JSON Lines, each an object with a string `field` ("text" by default). */
export function parseJsonl(text: string, location = 'JSONL', field = DEFAULT_TEXT_FIELD): string[] {
  const records: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      throw new Error(`${location}:${i + 1}: not valid JSON (${(err as Error).message})`);
    }
    const value = recordText(obj, field, `${location}:${i + 1}`);
    if (value.length > 0) records.push(value);
  });
  return records;
}

/** A JSON array of objects, each with a string `field`. */
export function parseJsonArray(text: string, location = 'JSON', field = DEFAULT_TEXT_FIELD): string[] {
  let array: unknown;
  try {
    array = JSON.parse(text);
  } catch (err) {
    throw new Error(`${location}: not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(array)) throw new Error(`${location}: expected a JSON array of records (or one JSON object per line)`);
  return array.map((obj, i) => recordText(obj, field, `${location}[${i}]`)).filter((r) => r.length > 0);
}

/** CSV with a header row: the `field` column of every row (RFC 4180 quoting, through csv-parse). */
export async function parseCsv(text: string, location = 'CSV', field = DEFAULT_TEXT_FIELD): Promise<string[]> {
  // Imported when needed: csv-parse reads Node's Buffer as it loads, and browsers import this package too.
  const { parse: parseCsvText } = await import('csv-parse/sync');
  let rows: string[][];
  try {
    rows = parseCsvText(text, { bom: true, skip_empty_lines: true, relax_column_count: false }) as string[][];
  } catch (err) {
    throw new Error(`${location}: not valid CSV (${(err as Error).message})`);
  }
  if (rows.length === 0) return [];
  const [header, ...body] = rows;
  const column = header.indexOf(field);
  if (column < 0) {
    throw new Error(`${location}: no "${field}" column; the header has ${header.map((h) => `"${h}"`).join(', ')} `
      + '(choose one with --text-field / textField)');
  }
  return body.map((row) => row[column]).filter((r) => r.length > 0);
}

/** The format `path`'s extension names. */
function formatOf(path: string): 'jsonl' | 'json' | 'csv' | 'text' {
  if (/\.jsonl$/i.test(path)) return 'jsonl';
  if (/\.json$/i.test(path)) return 'json';
  if (/\.csv$/i.test(path)) return 'csv';
  return 'text';
}

/** Reads `path` by its extension (.jsonl, .json, .csv; plain text otherwise); an empty corpus is an error. */
export async function readCorpus(path: string, options: ReadCorpusOptions = {}): Promise<string[]> {
  // Loaded here, not at the top: browsers import this package too.
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`data file not found: ${path}`);
    if (code === 'EISDIR') throw new Error(`the data file ${path} is a folder; give a .txt, .jsonl, .json or .csv file`);
    throw new Error(`cannot read the data file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const format = formatOf(path);
  const field = options.textField ?? DEFAULT_TEXT_FIELD;
  if (options.textField !== undefined && format === 'text') {
    throw new Error(`${path}: a text field applies to .jsonl, .json and .csv files; this one is read as plain text`);
  }
  // A .json file holds an array, or (as many datasets ship) one object per line.
  const records = format === 'csv' ? await parseCsv(text, path, field)
    : format === 'json' && text.trimStart().startsWith('[') ? parseJsonArray(text, path, field)
      : format === 'text' ? splitRecords(text) : parseJsonl(text, path, field);
  if (records.length === 0) throw new Error(`the corpus ${path} holds no records`);
  return records;
}
