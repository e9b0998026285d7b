// Builds dist/: ESM with types by tsc (dist/esm), and CommonJS by esbuild (dist/cjs) with every package
// dependency left external, so both formats share the user's tfjs instance. The two entry points
// (`mamba-tfjs`, `mamba-tfjs/kernels`) are one CommonJS bundle with a thin file each, so requiring both
// registers the kernels once and they share their classes.
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
  stdin: {
    contents: "export * as root from './src/index.ts';\nexport * as kernels from './src/kernels.ts';\n",
    resolveDir: '.', sourcefile: 'entry-points.ts', loader: 'ts',
  },
  bundle: true, platform: 'node', format: 'cjs', target: 'node20',
  // keepNames: the classes keep their names (MambaForCausalLM, not _MambaForCausalLM) for errors and users
  outfile: 'dist/cjs/bundle.cjs', external, sourcemap: true, keepNames: true, logLevel: 'warning',
});
for (const [entry, namespace] of [['index', 'root'], ['kernels', 'kernels']]) {
  writeFileSync(`dist/cjs/${entry}.cjs`, `'use strict';\nmodule.exports = require('./bundle.cjs').${namespace};\n`);
  writeFileSync(`dist/cjs/${entry}.d.cts`, `export * from '../esm/src/${entry}.js';\n`);
}
await import('./build-browser.mjs'); // dist/browser/mamba-tfjs.mjs
await import('./build-demo.mjs'); // dist/demo: the page of `mamba-tfjs demo`
console.log('built dist/esm (ESM + types) and dist/cjs (CommonJS: index.cjs, kernels.cjs)');
