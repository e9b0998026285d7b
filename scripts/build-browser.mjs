// Builds dist/browser/mamba-tfjs.mjs: the package as one ES module for browsers (a <script type=module>,
// an import map, a CDN). @tensorflow/* stay external, so the page's tfjs instance (its backends, kernel
// registry and engine) is the library's too; the page maps them in its import map. Node's modules are
// imported only on Node paths (local folders, Dawn), so they stay external too.
// Usage: node scripts/build-browser.mjs [outfile]   (the page test builds into a temporary folder)
import { build } from 'esbuild';

const outfile = process.argv[2] ?? 'dist/browser/mamba-tfjs.mjs';
await build({
  entryPoints: ['src/index.ts'], bundle: true, platform: 'browser', format: 'esm', target: 'es2022',
  outfile, external: ['@tensorflow/*', 'node:*'], sourcemap: true, logLevel: 'warning',
});
console.log(`built ${outfile} (ESM for browsers)`);
