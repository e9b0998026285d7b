// Assembles our WebAssembly modules, custom-kernels/wasm/NAME.wat, into custom-kernels/wasm/NAME_wasm.ts
// (the module's bytes as base64), which is committed: users and CI need no wabt at run time. Two
// builds of each text: tfjs-backend-wasm's memory is shared in its threaded build and unshared
// otherwise, and an import must declare which.
// npm run build:wasm after changing a .wat; `node scripts/build-wasm.mjs --check` fails when a
// committed file is not what its .wat assembles to (a test runs it).
import { readFileSync, writeFileSync } from 'node:fs';
import wabtInit from 'wabt';

/**
 * Each module: its file name, the generated constants' prefix, the shared fragments it includes
 * (their functions go in after its memory import) and the functions to inline (inlineCalls).
 */
const MODULES = [
  { name: 'selective_scan', constant: 'SELECTIVE_SCAN', include: ['vector'], inline: ['pow2', 'exp2'] },
  { name: 'linear_rows', constant: 'LINEAR_ROWS', include: [], inline: [] },
  { name: 'transpose', constant: 'TRANSPOSE', include: [], inline: [] },
  { name: 'causal_conv1d', constant: 'CAUSAL_CONV1D', include: ['vector'], inline: ['pow2', 'exp'] },
  { name: 'residual_norm', constant: 'RESIDUAL_NORM', include: [], inline: [] },
  { name: 'packed_rows', constant: 'PACKED_ROWS', include: [], inline: [] },
  { name: 'gemm', constant: 'GEMM', include: [], inline: [] },
];
const memoryImport = '(memory (import "env" "memory") 1)';
// a shared memory must declare a maximum; 65536 pages (4 GiB) admits any
const sharedMemoryImport = '(memory (import "env" "memory") 1 65536 shared)';

/** The index just past the parenthesis that closes the one at `open` (the text has no comments). */
function closing(wat, open) {
  for (let i = open, depth = 0; i < wat.length; i++) {
    if (wat[i] === '(') depth++;
    else if (wat[i] === ')' && --depth === 0) return i + 1;
  }
  throw new Error(`unbalanced parentheses from ${wat.slice(open, open + 40)}`);
}

// A function's name, export, params, result and locals: what precedes its instructions.
const FUNC_HEAD = /^\(func \$\w+(?:\s*\((?:export|param|result|local) [^()]*\))*/;

/** The parenthesized expressions at the top level of `text`, in order. */
function expressions(text) {
  const out = [];
  for (let i = text.indexOf('('); i >= 0; i = text.indexOf('(', i)) {
    const end = closing(text, i);
    out.push(text.slice(i, end));
    i = end;
  }
  return out;
}

/**
 * Replaces each `(call $name ARGS)` by $name's body in a block that first sets its params from the
 * ARGS (renamed `$name.*`, like its locals, and declared in the caller), and drops $name. V8 in
 * Node 20 does not inline wasm calls, and calling the exponential from the scan's innermost loop
 * (which spills that loop's vectors around every call) took a quarter of the scan's time (29 ms,
 * 22 inlined, for 1 x 512 x 1536 x 16). The inlined function must not `return`, and its args must
 * be parenthesized expressions.
 */
function inlineCalls(wat, name) {
  const start = wat.indexOf(`(func $${name} `);
  const fn = wat.slice(start, closing(wat, start));
  const head = fn.match(FUNC_HEAD)[0];
  const params = [...head.matchAll(/\(param (\$[\w.]+) \w+\)/g)].map((m) => m[1]);
  const decls = [...head.matchAll(/\((?:param|local) (\$[\w.]+) (\w+)\)/g)];
  const renamed = (text) => decls.reduce(
    (t, [, local]) => t.replace(new RegExp(`\\${local.replace('.', '\\.')}(?![\\w.])`, 'g'), `$${name}.${local.slice(1)}`),
    text);
  const body = renamed(fn.slice(head.length, -1));
  const locals = decls.map(([, local, type]) => ` (local ${renamed(local)} ${type})`).join('');
  const call = `(call $${name} `;
  let rest = wat.slice(0, start) + wat.slice(start + fn.length);
  for (let f = rest.indexOf('(func '); f >= 0; f = rest.indexOf('(func ', f + 1)) {
    let caller = rest.slice(f, closing(rest, f));
    if (!caller.includes(call)) continue;
    for (let c = caller.indexOf(call); c >= 0; c = caller.indexOf(call, c)) {
      const end = closing(caller, c);
      const sets = expressions(caller.slice(c + call.length, end - 1))
        .map((arg, i) => `(local.set ${renamed(params[i])} ${arg}) `).join('');
      caller = `${caller.slice(0, c)}(block (result v128) ${sets}${body})${caller.slice(end)}`;
    }
    const headEnd = caller.match(FUNC_HEAD)[0].length;
    caller = caller.slice(0, headEnd) + locals + caller.slice(headEnd);
    rest = rest.slice(0, f) + caller + rest.slice(closing(rest, f));
  }
  return rest;
}

/**
 * Relaxed SIMD's fused multiply-add in place of each `(f32x4.add A (f32x4.mul B C))` (either operand
 * order): `(f32x4.relaxed_madd B C A)`, one instruction where x86 has FMA. Intel cores issue a
 * multiply and an add on the same two ports, so the products ran at half their speed there; the
 * fused sum is also the more exact one (one rounding). Innermost first, so chains of sums fuse
 * through. A is evaluated after B and C in the new form: a rewrite that could change what A reads
 * (A writes or calls anything, or B or C set a local A reads) is refused rather than made.
 */
function fuseMultiplyAdds(wat, source) {
  const add = '(f32x4.add ';
  for (let at = wat.lastIndexOf(add); at >= 0; at = at === 0 ? -1 : wat.lastIndexOf(add, at - 1)) {
    const end = closing(wat, at);
    const operands = expressions(wat.slice(at + add.length, end - 1));
    if (operands.length !== 2) throw new Error(`${source}: f32x4.add with ${operands.length} operands`);
    const product = operands.findIndex((e) => e.startsWith('(f32x4.mul '));
    if (product < 0) continue;
    const sum = operands[1 - product];
    const [b, c] = expressions(operands[product].slice('(f32x4.mul '.length, -1));
    const reads = [...sum.matchAll(/local\.get (\$[\w.]+)/g)].map((m) => m[1]);
    const written = (e) => reads.some((local) => new RegExp(`local\\.(?:set|tee) \\${local.replace('.', '\\.')}(?![\\w.])`).test(e));
    if (/local\.(set|tee)|call|store/.test(sum) || written(b) || written(c)) {
      throw new Error(`${source}: cannot fuse ${wat.slice(at, Math.min(end, at + 80))}: the sum's operand has effects or reads what the product sets`);
    }
    wat = `${wat.slice(0, at)}(f32x4.relaxed_madd ${b} ${c} ${sum})${wat.slice(end)}`;
  }
  return wat;
}

const wabt = await wabtInit();
const features = { simd: true, bulk_memory: true, threads: true, relaxed_simd: true };

function assemble(source, wat) {
  const module = wabt.parseWat(source, wat, features);
  try {
    module.validate(features);
    return Buffer.from(module.toBinary({}).buffer).toString('base64');
  } finally {
    module.destroy();
  }
}

/** The generated file's text for one module. */
function generate({ name, constant, include, inline }) {
  const source = `custom-kernels/wasm/${name}.wat`;
  // comments go first: the inliner counts parentheses, and comments' need not balance
  const read = (file) => readFileSync(`custom-kernels/wasm/${file}.wat`, 'utf8').replace(/;;.*$/gm, '');
  const own = read(name);
  if (own.split(memoryImport).length !== 2) throw new Error(`${source}: expected one ${memoryImport}`);
  const included = own.replace(memoryImport, [memoryImport, ...include.map(read)].join('\n'));
  const text = inline.reduce(inlineCalls, included);
  const fused = fuseMultiplyAdds(text, source);
  const shared = (wat) => wat.replace(memoryImport, sharedMemoryImport);
  const builds = `// Generated by scripts/build-wasm.mjs from ${name}.wat; do not edit (npm run build:wasm).
/** For tfjs-backend-wasm's unshared memory. */
export const ${constant}_WASM_BASE64 =
  '${assemble(source, text)}';
/** The same, importing a shared memory (the threaded build's). */
export const ${constant}_SHARED_WASM_BASE64 =
  '${assemble(source, shared(text))}';
`;
  if (fused === text) return builds;
  return `${builds}/** Both again with fused multiply-adds (relaxed SIMD), for engines that validate them. */
export const ${constant}_RELAXED_WASM_BASE64 =
  '${assemble(source, fused)}';
export const ${constant}_RELAXED_SHARED_WASM_BASE64 =
  '${assemble(source, shared(fused))}';
`;
}

let stale = false;
for (const module of MODULES) {
  const target = `custom-kernels/wasm/${module.name}_wasm.ts`;
  const generated = generate(module);
  if (!process.argv.includes('--check')) {
    writeFileSync(target, generated);
    console.log(`wrote ${target}`);
  } else if (readFileSync(target, 'utf8') !== generated) {
    console.error(`${target} is stale: run npm run build:wasm`);
    stale = true;
  }
}
if (stale) process.exit(1);
