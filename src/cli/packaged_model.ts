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
  const model = join(root, PACKAGED_MODEL);
  return existsSync(join(model, 'config.json')) ? model : null;
}

/** This package's version (`mamba-tfjs --version`). */
export function packageVersion(from = dirname(fileURLToPath(import.meta.url))): string {
  const root = packageRoot(from);
  const version = root == null ? undefined : readPackageJson(root)?.version;
  if (typeof version !== 'string') throw new Error('cannot find the mamba-tfjs package.json above this file');
  return version;
}

/** The mamba-tfjs package's folder (the one with its package.json) at or above `from`; null outside one. */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string | null {
  for (let dir = from; ; dir = dirname(dir)) {
    if (readPackageJson(dir)?.name === 'mamba-tfjs') return dir;
    if (dirname(dir) === dir) return null;
  }
}

/** `dir`'s package.json, or null where it has none (or not JSON). */
function readPackageJson(dir: string): { name?: unknown; version?: unknown } | null {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
  } catch {
    return null;
  }
}
