// Builds dist/: ESM with types by tsc (dist/esm), and one CommonJS bundle by esbuild (dist/cjs)
// with every package dependency left external, so both formats share the user's tfjs instance.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

rmSync('dist', { recursive: true, force: true });
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
// npx runs the bin in place in this checkout, where npm's install has not set its mode.
chmodSync(pkg.bin['mamba-tfjs'], 0o755);

const external = [
  ...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {}),
  ...Object.keys(pkg.optionalDependencies ?? {}), 'webgpu', 'node:*',
];
mkdirSync('dist/cjs', { recursive: true });
await build({
  entryPoints: ['src/index.ts'], bundle: true, platform: 'node', format: 'cjs', target: 'node20',
  outfile: 'dist/cjs/index.cjs', external, sourcemap: true, logLevel: 'warning',
});
writeFileSync('dist/cjs/index.d.cts', "export * from '../esm/src/index.js';\n");
await import('./build-browser.mjs'); // dist/browser/mamba-tfjs.mjs
await import('./build-demo.mjs'); // dist/demo: the page of `mamba-tfjs demo`
console.log('built dist/esm (ESM + types) and dist/cjs/index.cjs (CommonJS)');
