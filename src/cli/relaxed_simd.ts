/**
 * The CLI's own process runs our wasm modules' fused multiply-add builds on Node 20 too: its V8
 * (11.3) has relaxed SIMD behind a flag, on by default from 11.4 (Node 22, Chrome 114). Imported
 * first by main.ts, before any module is compiled. Only the command sets an engine flag, for
 * itself; the library never does (a program of the user's passes --experimental-wasm-relaxed-simd).
 */
import { setFlagsFromString } from 'node:v8';

if (parseFloat(process.versions.v8) < 11.4) setFlagsFromString('--experimental-wasm-relaxed-simd');
