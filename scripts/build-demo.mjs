// Builds dist/demo/: the page of `mamba-tfjs demo` (src/demo/page) with tfjs and its backends bundled
// in, and the wasm backend's binaries from the installed @tensorflow/tfjs-backend-wasm beside it, so
// the demo serves only files of the package (no CDN) and its JavaScript and wasm always match.
// Usage: node scripts/build-demo.mjs [outdir]   (the demo test builds into a temporary folder)
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';

const outdir = process.argv[2] ?? 'dist/demo';
rmSync(outdir, { recursive: true, force: true });
mkdirSync(join(outdir, 'wasm'), { recursive: true });
await build({
  entryPoints: ['src/demo/page/app.ts'], bundle: true, platform: 'browser', format: 'esm', target: 'es2022',
  outfile: join(outdir, 'app.js'), external: ['node:*'], minify: true, legalComments: 'linked', logLevel: 'warning',
});
for (const file of ['index.html', 'app.css']) copyFileSync(join('src/demo/page', file), join(outdir, file));
// Threads need a cross-origin-isolated page, which the demo is not: the plain and SIMD builds only.
const wasmDir = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json'));
for (const file of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm']) {
  copyFileSync(join(wasmDir, 'dist', file), join(outdir, 'wasm', file));
}
console.log(`built ${outdir} (the demo page)`);
