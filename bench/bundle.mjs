// Bundles benchmark entries into one ES module each, run with Node alone (no npx, tsx or
// node_modules): tfjs and the project inside, tfjs-backend-wasm's .wasm binaries beside them.
// Usage: node bench/bundle.mjs OUTDIR ENTRY.ts [ENTRY.ts ...]
//   e.g. node bench/bundle.mjs .bench bench/cpu.ts src/cli/main.ts, then node .bench/cpu.mjs
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';

const [outdir, ...entries] = process.argv.slice(2);
if (!outdir || entries.length === 0) {
  console.error('usage: node bench/bundle.mjs OUTDIR ENTRY.ts [ENTRY.ts ...]');
  process.exit(2);
}
mkdirSync(outdir, { recursive: true });
await build({
  entryPoints: entries, bundle: true, platform: 'node', format: 'esm', target: 'node20',
  outdir, outExtension: { '.js': '.mjs' }, external: ['webgpu', 'node-llama-cpp'], logLevel: 'warning',
  // CommonJS inside the bundle (tfjs-backend-wasm's Emscripten glue) reads require and __dirname:
  // the bundle's own, so the glue finds its .wasm binaries beside the bundle.
  banner: {
    js: ["import { createRequire as __cr } from 'node:module';", "import { fileURLToPath as __fu } from 'node:url';",
      "import { dirname as __dn } from 'node:path';", 'const require = __cr(import.meta.url);',
      'const __filename = __fu(import.meta.url);', 'const __dirname = __dn(__filename);'].join(' '),
  },
});
const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out');
for (const file of readdirSync(wasmDir).filter((f) => f.endsWith('.wasm'))) copyFileSync(join(wasmDir, file), join(outdir, file));
console.log(`bundled ${entries.join(', ')} into ${outdir}/ with tfjs-backend-wasm's binaries`);
