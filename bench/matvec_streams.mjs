// One-thread decode matvec layouts on WebAssembly SIMD: S streams (stretches of the outputs read side
// by side) x P vectors a step of each, over a 130m token's matrices (513 MB, past the caches), in GB/s.
// It writes a self-contained probe (the variants assembled here with wabt, as base64) to run anywhere
// Node runs, e.g. the GPU host's CPU:
//   node bench/matvec_streams.mjs /tmp/mvprobe.mjs && node /tmp/mvprobe.mjs [runs]
// (bench/results/cpu-side-by-side.md has what it measured; linear_rows.wat took 4 x 2). A bandwidth probe,
// not a kernel: a row whose bytes are not a multiple of a step reads on into the next (dt_proj at 8 vectors).
import wabtInit from 'wabt';
import { writeFileSync } from 'node:fs';
const wabt = await wabtInit();
const madd = (acc, a, b) => `(f32x4.add ${acc} (f32x4.mul ${a} ${b}))`;
// streams S, each reading `per` vectors (16 B) per iteration into `per` accumulators; rows of stream s start at o0 + s * len
function variant(S, per) {
  const locals = [];
  for (let s = 0; s < S; s++) { locals.push(`(local $p${s} i32)`); for (let j = 0; j < per; j++) locals.push(`(local $a${s}_${j} v128)`); }
  for (let j = 0; j < per; j++) locals.push(`(local $x${j} v128)`);
  const step = 16 * per;
  const body = [];
  for (let j = 0; j < per; j++) body.push(`(local.set $x${j} (v128.load offset=${16 * j} (i32.add (local.get $x) (local.get $i))))`);
  for (let s = 0; s < S; s++) for (let j = 0; j < per; j++) body.push(`(local.set $a${s}_${j} ${madd(`(local.get $a${s}_${j})`, `(local.get $x${j})`, `(v128.load offset=${16 * j} (i32.add (local.get $p${s}) (local.get $i)))`)})`);
  const finish = [];
  for (let s = 0; s < S; s++) {
    let sum = `(local.get $a${s}_0)`;
    for (let j = 1; j < per; j++) sum = `(f32x4.add ${sum} (local.get $a${s}_${j}))`;
    finish.push(`(local.set $v ${sum})`);
    finish.push(`(f32.store (i32.add (local.get $y) (i32.shl (i32.add (local.get $o) (i32.mul (i32.const ${s}) (local.get $len))) (i32.const 2)))
      (f32.add (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 2 (local.get $v))) (f32.add (f32x4.extract_lane 1 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))`);
  }
  const zero = [];
  for (let s = 0; s < S; s++) { zero.push(`(local.set $p${s} (i32.add (local.get $w) (i32.mul (i32.add (local.get $o) (i32.mul (i32.const ${s}) (local.get $len))) (local.get $rowBytes))))`); for (let j = 0; j < per; j++) zero.push(`(local.set $a${s}_${j} (v128.const i32x4 0 0 0 0))`); }
  // rows [o0, o1): S streams of len rows each (len = (o1-o0)/S; the remainder by stream 0 at the end, one stream variant)
  return `(func $mv${S}_${per} (export "mv${S}_${per}") (param $x i32) (param $w i32) (param $y i32) (param $K i32) (param $o0 i32) (param $o1 i32)
    (local $rowBytes i32) (local $len i32) (local $o i32) (local $end i32) (local $i i32) (local $v v128) ${locals.join(' ')}
    (local.set $rowBytes (i32.shl (local.get $K) (i32.const 2)))
    (local.set $len (i32.div_u (i32.sub (local.get $o1) (local.get $o0)) (i32.const ${S})))
    (local.set $o (local.get $o0))
    (local.set $end (i32.add (local.get $o0) (local.get $len)))
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
      ${zero.join('\n      ')}
      (local.set $i (i32.const 0))
      (block $kd (loop $k
        (br_if $kd (i32.ge_u (local.get $i) (local.get $rowBytes)))
        ${body.join('\n        ')}
        (local.set $i (i32.add (local.get $i) (i32.const ${step})))
        (br $k)))
      ${finish.join('\n      ')}
      (local.set $o (i32.add (local.get $o) (i32.const 1)))
      (br $rows)))
    ${S > 1 ? `(if (i32.lt_u (i32.add (local.get $o0) (i32.mul (local.get $len) (i32.const ${S}))) (local.get $o1)) (then
      (call $mv1_4 (local.get $x) (local.get $w) (local.get $y) (local.get $K) (i32.add (local.get $o0) (i32.mul (local.get $len) (i32.const ${S}))) (local.get $o1))))` : ''})`;
}
const variants = [[1, 4], [1, 8], [2, 4], [2, 2], [4, 2], [8, 1]];
const wat = `(module (memory (import "env" "memory") 1) ${variants.map(([s, p]) => variant(s, p)).join('\n')})`;
const m = wabt.parseWat('mv.wat', wat, { simd: true });
const b64 = Buffer.from(m.toBinary({}).buffer).toString('base64');
const target = process.argv[2];
if (target == null) throw new Error('usage: node bench/matvec_streams.mjs OUT.mjs');
writeFileSync(target, `// one-thread matvec variants over a 130m token's matrices (W past the caches); written by bench/matvec_streams.mjs
const B64 = "${b64}";
const VARIANTS = ${JSON.stringify(variants.map(([s, p]) => `mv${s}_${p}`))};
const memory = new WebAssembly.Memory({ initial: 16384 });
const ex = new WebAssembly.Instance(new WebAssembly.Module(Uint8Array.from(atob(B64), (c) => c.charCodeAt(0))), { env: { memory } }).exports;
const f = new Float32Array(memory.buffer); for (let i = 0; i < f.length; i += 97) f[i] = Math.random() - 0.5;
// the token: 24 x (in_proj 3072x768, x_proj 80x1536, dt_proj 1536x48, out_proj 768x1536) + head 50280x768
const mats = []; let at = 1 << 20;
for (let l = 0; l < 24; l++) for (const [N, K] of [[3072, 768], [80, 1536], [1536, 48], [768, 1536]]) { mats.push([at, N, K]); at += N * K * 4; }
mats.push([at, 50280, 768]); at += 50280 * 768 * 4;
const bytes = at - (1 << 20); const Y = at + 4096;
const runs = Number(process.argv[2] ?? 5);
const token = (fn) => { for (const [w, N, K] of mats) fn(0, w, Y, K, 0, N); };
const res = {};
for (let round = 0; round < 3; round++) for (const name of VARIANTS) {
  const fn = ex[name]; token(fn);
  const t = []; for (let r = 0; r < runs; r++) { const s = performance.now(); token(fn); t.push(performance.now() - s); }
  const ms = t.sort((a, b) => a - b)[runs >> 1];
  (res[name] ??= []).push(+(bytes / ms / 1e6).toFixed(2));
}
// check: every variant's y equals mv1_4's on the head
token(ex.mv1_4); const ref = f.slice(Y / 4, Y / 4 + 50280);
for (const name of VARIANTS) { token(ex[name]); const d = Math.max(...f.slice(Y / 4, Y / 4 + 50280).map((v, i) => Math.abs(v - ref[i]))); if (d > 1e-3) console.log(name, 'differs', d); }
console.log(JSON.stringify({ MB: +(bytes / 1e6).toFixed(1), GBs: res }));
`);
