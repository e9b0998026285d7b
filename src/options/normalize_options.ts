/**
 * Option objects as users write them: this package's camelCase names or the snake_case names of HF
 * transformers and transformers.js (`max_new_tokens`, `do_sample`, `progress_callback`), resolved to
 * the camelCase ones through one table per call site. An unknown name is an error naming the
 * nearest known one, so that a typo is never silently ignored.
 */
import { distance } from 'fastest-levenshtein';

type SnakeCaseName<S extends string> = S extends `${infer Head}${infer Tail}`
  ? `${Head extends Lowercase<Head> ? Head : `_${Lowercase<Head>}`}${SnakeCaseName<Tail>}`
  : S;

/** The options of T under their snake_case names too (`maxNewTokens` and `max_new_tokens`). */
export type WithSnakeCase<T> = T & { [K in keyof T as K extends string ? SnakeCaseName<K> : never]?: T[K] };

/** T under its snake_case names alone, required where T's are (`{ seq_len }` for `{ seqLen }`). */
export type SnakeCaseOnly<T> = { [K in keyof T as K extends string ? SnakeCaseName<K> : never]: T[K] };

/** Every option of T (`true`), or the other names it may be given under (synonyms beyond its snake_case form). */
export type OptionTable<T> = { readonly [K in keyof Required<T>]: true | readonly string[] };

export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * `given` under the table's camelCase names. Entries whose value is undefined are dropped; one option
 * given under two names with different values is an error, as is a name the table does not know.
 * `what` names the call in messages ("generate", "pipeline").
 */
export function normalizeOptions<T extends object>(given: unknown, table: OptionTable<T>, what: string): T {
  if (given === undefined) return {} as T;
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new TypeError(`${what}: options must be an object, got ${given === null ? 'null' : Array.isArray(given) ? 'an array' : typeof given}`);
  }
  const byName = nameIndex(table);
  const out: Record<string, unknown> = {};
  const from: Record<string, string> = {};
  for (const [name, value] of Object.entries(given)) {
    const canonical = byName.get(name);
    if (canonical === undefined) {
      const near = nearest(name, [...byName.keys()]);
      throw new TypeError(`${what}: unknown option '${name}'; `
        + (near != null ? `did you mean '${near}'?` : `the options are ${Object.keys(table).join(', ')}`));
    }
    if (value === undefined) continue;
    if (canonical in out && out[canonical] !== value) {
      throw new TypeError(`${what}: '${from[canonical]}' and '${name}' are the same option with different values`);
    }
    out[canonical] = value;
    from[canonical] = name;
  }
  return out as T;
}

const indexes = new WeakMap<object, Map<string, string>>();

/** Every accepted name to its camelCase one (built once per table). */
function nameIndex(table: Record<string, true | readonly string[]>): Map<string, string> {
  let index = indexes.get(table);
  if (index == null) {
    index = new Map();
    for (const [name, synonyms] of Object.entries(table)) {
      for (const alias of [name, snakeCase(name), ...(synonyms === true ? [] : synonyms)]) index.set(alias, name);
    }
    indexes.set(table, index);
  }
  return index;
}

/**
 * The known name closest to `name` by edit distance, case and separators aside (ties: the first listed);
 * null where even that one is more than a typo away (a third of the name's letters, at least 2).
 */
function nearest(name: string, known: string[]): string | null {
  const fold = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  let best = known[0];
  let bestScore = Infinity;
  for (const candidate of known) {
    // Distance between the folded forms first (maxNewToken ~ max_new_tokens), then the raw one as tie-break.
    const score = distance(fold(name), fold(candidate)) * 1000 + distance(name, candidate);
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return Math.floor(bestScore / 1000) <= Math.max(2, Math.floor(fold(name).length / 3)) ? best : null;
}
