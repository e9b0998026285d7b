#!/usr/bin/env bash
# One device call on the H200 (2.8b shape, random weights): our float16 prompts and decoding beside llama.cpp's
# CUDA build, int4, float32 decoding with the GPU benchmark of an older commit before it (where given), and the
# decode matvec table. Steps start only while the call has time left (LIMIT seconds, default 480), most wanted first.
#
# Prepare here, from the project root (the device has no Node.js and reaches nothing):
#   ../shared/gpu/pack.sh bench/gpu.ts bench/profile.ts bench/gemm.ts bench/scale.ts bench/dispatch.ts   # -> .gpu/
#   mkdir -p .peers && cp ../shared/peers/* .peers/                     # llama.cpp's source and GGUF writer
#   optional, the "before" rows: bench/gpu.ts of an older commit bundled into .gpu-old/gpu.mjs, e.g.
#     git worktree add /tmp/old REV && ln -s "$PWD/node_modules" /tmp/old/ && (cd /tmp/old && npx esbuild bench/gpu.ts \
#       --bundle --platform=node --format=esm --target=node20 --external:webgpu --outdir="$OLDPWD/.gpu-old" \
#       --out-extension:.js=.mjs --banner:js="import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);")
#   (.gpu/, .gpu-old/ and .peers/ listed in .git/info/exclude)
# The device call: carry [".gpu", ".gpu-old", ".peers"], command `LIMIT=470 bash bench/h200_call.sh`, timeout_s 530.
# Writes to $OUT: env.txt (driver, clocks, when each step ended), f16.txt, int4.txt, llama.txt, new.txt, old.txt, matvec.txt.
R=$(pwd)
source .gpu/setup.sh
[ -f "$R/.gpu-old/gpu.mjs" ] && cp "$R/.gpu-old/gpu.mjs" /tmp/gpu/bundle/old_gpu.mjs
cd /tmp/gpu/bundle || exit 1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv > "$OUT/env.txt" 2>&1
t0=$(date +%s)
LIMIT=${LIMIT:-480}
stamp() { echo "$1 at $(( $(date +%s) - t0 )) s" >> "$OUT/env.txt"; }
# runs "$@" for at most $1 seconds, cut to what is left of LIMIT; skipped when under 20 s are left
step() {
  local want=$1; shift
  local left=$(( LIMIT - ($(date +%s) - t0) ))
  if [ $left -lt 20 ]; then echo "skipped: $*" >> "$OUT/env.txt"; return; fi
  timeout $(( want < left ? want : left )) "$@"
}
# llama.cpp's build (~150 s on 16 cores) beside our first steps, which the GPU bounds; "none" writes no model
(nice -n 10 bash "$R/.peers/llamacpp_cuda.sh" "none:f32" > /tmp/llama-build.txt 2>&1) &
BUILD=$!
export BENCH_SHAPE=2.8b BENCH_OP_BY_OP=0 BENCH_BITS=4 BENCH_DAWN_FLAGS="enable-dawn-features=allow_unsafe_apis"
step 100 node gpu.mjs float16 > "$OUT/f16.txt" 2>&1; stamp f16
# (quantize() packs 2.8b on the host: ~25 s here at 9 ns a weight, besides reading the weights back)
step 150 node gpu.mjs quant > "$OUT/int4.txt" 2>&1; stamp int4
wait $BUILD; stamp build
step 45 bash "$R/.peers/llamacpp_cuda.sh" "2.8b:f16" 128,512 64 > "$OUT/llama.txt" 2>&1; stamp llama
step 75 node gpu.mjs decode > "$OUT/new.txt" 2>&1; stamp new
[ -f old_gpu.mjs ] && { step 75 node old_gpu.mjs decode > "$OUT/old.txt" 2>&1; stamp old; }
step 60 env BENCH_PART=matvec node gemm.mjs > "$OUT/matvec.txt" 2>&1; stamp matvec
rm -f "$OUT/gpu.md" "$OUT/gpu.json" "$OUT/gemm.md"
grep -v "^$" /tmp/llama-build.txt | tail -2 >> "$OUT/env.txt"
