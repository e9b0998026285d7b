// Checks the floor plan in .dependency-cruiser.cjs: compiles src/, custom-kernels/ and bench/routines
// with tsc into a temporary folder (tsc drops `import type`, so only value imports remain) and has
// dependency-cruiser look for import cycles between files and imports from a floor to one above it.
// Usage: node scripts/check-imports.mjs   (exit 1 and one line per violation when the plan is broken)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise } from 'dependency-cruiser';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/**
 * Violations of `config` (a .dependency-cruiser.cjs module: forbidden rules, FLOORS, roomOf) among
 * the JavaScript files under `dir`: `from -> to (rule)` lines, plus rooms that sit on no floor.
 */
export async function importViolations(dir, config, roots = ['src', 'custom-kernels', 'bench']) {
  const cwd = process.cwd();
  process.chdir(dir);   // dependency-cruiser reports paths relative to the working directory
  try {
    const { output } = await cruise(roots.filter((r) => existsIn(dir, r)), {
      ruleSet: { forbidden: config.forbidden }, validate: true, ...config.options,
    });
    const lines = output.summary.violations.map((v) =>
      `${v.from} -> ${v.to} (${v.rule.name}${v.cycle ? `: ${v.cycle.map((c) => c.name ?? c).join(' -> ')}` : ''})`);
    const floors = new Set(config.FLOORS.flat());
    const homeless = new Set(output.modules.map((m) => m.source)
      .filter((s) => roots.some((r) => s.startsWith(`${r}/`))).map((s) => config.roomOf(s)).filter((r) => !floors.has(r)));
    for (const room of homeless) lines.push(`${room} is on no floor of the plan`);
    for (const cycle of roomCycles(output.modules, config.roomOf, roots)) lines.push(`folder cycle: ${cycle.join(' -> ')}`);
    return lines;
  } finally {
    process.chdir(cwd);
  }
}

/** Cycles in the graph of rooms (folders, files directly in src/): rooms on one floor may not import each other both ways either. */
function roomCycles(modules, roomOf, roots) {
  const inRoots = (path) => roots.some((r) => path.startsWith(`${r}/`));
  const edges = new Map();
  for (const m of modules) {
    if (!inRoots(m.source)) continue;
    const from = roomOf(m.source);
    for (const d of m.dependencies) {
      if (!inRoots(d.resolved)) continue;
      const to = roomOf(d.resolved);
      if (to === from) continue;
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from).add(to);
    }
  }
  const cycles = [];
  const state = new Map();   // 1: on the path, 2: done
  const path = [];
  const visit = (room) => {
    state.set(room, 1);
    path.push(room);
    for (const next of edges.get(room) ?? []) {
      if (state.get(next) === 1) cycles.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(room, 2);
  };
  for (const room of [...edges.keys()].sort()) if (!state.has(room)) visit(room);
  return cycles;
}

function existsIn(dir, name) {
  try {
    execFileSync('test', ['-e', join(dir, name)]);
    return true;
  } catch {
    return false;
  }
}

/** The project's own check: compile, then cruise. */
export async function checkProject() {
  const out = mkdtempSync(join(tmpdir(), 'mamba-tfjs-imports-'));
  try {
    execFileSync('node', [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'),
      '--outDir', out, '--declaration', 'false', '--sourceMap', 'false', '--inlineSources', 'false'], { stdio: 'inherit' });
    return await importViolations(out, require(join(ROOT, '.dependency-cruiser.cjs')));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const violations = await checkProject();
  for (const line of violations) console.error(line);
  console.log(violations.length === 0 ? 'imports: no cycles, every floor imports only floors below' : `imports: ${violations.length} violations`);
  process.exit(violations.length === 0 ? 0 : 1);
}
