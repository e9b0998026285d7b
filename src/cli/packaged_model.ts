/**
 * The model that ships inside the npm package (models/mamba-quotes, trained by
 * examples/train-quotes.ts): what the CLI runs when no --model is given, offline.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGED_MODEL = 'models/mamba-quotes';

/**
 * The packaged model's folder, found from this file up to the package root (src/cli in a checkout,
 * dist/esm/src/cli once built); null when the package has none.
 */
export function packagedModelDir(from = dirname(fileURLToPath(import.meta.url))): string | null {
  const root = packageRoot(from);
  if (root == null) return null;
  const model = join(root.dir, PACKAGED_MODEL);
  return existsSync(join(model, 'config.json')) ? model : null;
}

/** This package's version (`mamba-tfjs --version`). */
export function packageVersion(from = dirname(fileURLToPath(import.meta.url))): string {
  const version = packageRoot(from)?.json.version;
  if (typeof version !== 'string') throw new Error('cannot find the mamba-tfjs package.json above this file');
  return version;
}

/** The nearest folder at or above `from` whose package.json is this package's. */
function packageRoot(from: string): { dir: string; json: { name?: unknown; version?: unknown } } | null {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (json.name === 'mamba-tfjs') return { dir, json };
    } catch {
      // no package.json here, or not JSON: keep going up
    }
    if (dirname(dir) === dir) return null;
  }
}
