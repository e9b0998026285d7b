#!/usr/bin/env bash
# One device call on the H200 (2.8b shape unless BENCH_SHAPE says, random weights): the steps named in STEPS, in that order, each
# only while the call has time left (LIMIT seconds, default 480). The steps (default "f16 llama new matvec
# int4"); a matvec trial (matvecTrials) is timed in the step of its weights, under each set named in
# F16_TRIALS, DECODE_TRIALS or INT4_TRIALS (space-separated sets, a set's switches joined by +, e.g.
# "decodeInline codeMask+halfCast"), beside the run without it in the same process:
#   f16     bench/gpu.ts float16: prefill 128 / 512 on tensor cores, decode b1 / b8, and under F16_TRIALS (F16_SECONDS, 150) -> f16.txt
#   llama   llama.cpp CUDA, 2.8b F16 (LLAMA_SPECS others, e.g. "2.8b:f16 2.8b:f32"): pp128, pp512,
#           tg64 (built at the call's start)                                           -> llama.txt
#   new     bench/gpu.ts decode: float32 b1 / b8, and under DECODE_TRIALS (NEW_SECONDS, 75) -> new.txt
#           (and for each other shape in NEW_SHAPES, e.g. "2.8b 1.4b"                   -> new-<shape>.txt)
#   old     the same with .gpu-old/gpu.mjs (an older commit), where given, NEW_SHAPES too  -> old.txt, old-<shape>.txt
#   oldf16  the f16 step with .gpu-old/gpu.mjs                                          -> oldf16.txt
#   matvec  bench/gemm.ts' decode matvec table (plan and trial layouts), timestamps not rounded -> matvec.txt
#   stages  bench/gemm.ts' stages table (STAGE_WEIGHTS, default float32,float16): in_proj plain, normed on the way
#           in, with the conv step out, both; out_proj plain and adding to the residual stream (us a call),
#           timestamps not rounded                                                     -> stages.txt
#   ablation  bench/gemm.ts' int4 matvec with parts of its work left out (decoding, x's loads), other layouts and codeMask (ABLATION_SECONDS, 150;
#           ABLATION_ROWS, a regular expression: only the layouts it names, beside the plan) -> ablation.txt
#   oldstages  the same with .gpu-old/gemm.mjs (bench/bundle_old.sh REV bench/gemm.ts)   -> oldstages.txt
#   ssm     bench/gemm.ts' state step alone in several layouts (SSM_WEIGHTS: dt_proj's, default float32,float16) -> ssm.txt
#   oldssm  the same with .gpu-old/gemm.mjs                                            -> oldssm.txt
#   ssmbest bench/gpu.ts decode with the state step in the layout "ssm" found fastest for float32 at batch 8 -> ssmbest.txt
#   grid    the same timing every layout (MATVEC_GRID=1), the fastest three a row (GRID_SECONDS, 200) -> grid.txt
#   gridf16 the grid again for float16 at batch 1 (GRID_PROJECTIONS, GRID_THREADS as for grid)  -> gridf16.txt
#   robust  bench/gpu.ts ROBUST_MODES (default decode) with Dawn's robustness on (bounds checks on
#           each access of a storage buffer; this package turns them off in Node), beside "new" -> robust.txt
#   validated  bench/gpu.ts VALIDATED_MODES (default decode) with Dawn's validation on (every command and
#           each buffer a submission uses checked on the host; this package skips it in Node), beside "new" -> validated.txt
#   int4    bench/gpu.ts quant: int4 decode, and under INT4_TRIALS' sets                  -> int4.txt
#   oldint4 the same with .gpu-old/gpu.mjs                                             -> oldint4.txt
#   host    bench/host.ts HOST_FORMATS (float32,float16): the host's share of a token (dispatches of 1/4/8
#           bindings; the decoder's checks, encoding and submission apart), a CPU profile of each greedy
#           decode, each kind of dispatch's GPU cost in place, the head, the choice and the gaps between
#           submissions, timestamps not rounded                                      -> host.txt, host-*.cpuprofile
#   oldhost the same with .gpu-old/host.mjs (bench/bundle_old.sh REV bench/host.ts)     -> oldhost.txt
#   lag     bench/lag.ts LAG_FORMATS (float32,float16), LAG_SHAPE (BENCH_SHAPE), LAG_LAGS, LAG_STEPS: greedy decoding read back 1 to 16 steps behind,
#           batch 1 and 8, a fresh decoder a row, the event loop's stalls and GC pauses; the same loop
#           with each pass stamped (GPU ms a pass, idle between passes and how much of it was the
#           host's), the decoder's GPU step apart and each kind of dispatch's cost     -> lag.txt
#   oldlag  the same with .gpu-old/lag.mjs (bench/bundle_old.sh REV bench/lag.ts)       -> oldlag.txt
#   pause   bench/pause.ts PAUSE_FORMATS (float32), PAUSE_MS: greedy decoding after a pause of the event loop
#           during a pending map (a collector's pause), batch 1 and 8: ms a step after it -> pause.txt
#   oldpause the same with .gpu-old/pause.mjs (bench/bundle_old.sh REV bench/pause.ts)  -> oldpause.txt
#   prefetch bench/prefetch.ts: out_proj's matvec after its matrix was read ahead into the L2, alone
#           or inside a latency-bound dispatch                                          -> prefetch.txt
#   scale   bench/scale.ts 2.8b float16: load time and peak host RSS, prefill, decode  -> scale.txt
#   roofline bench/roofline.ts ROOFLINE_FORMATS (float16,int4): the decoder's greedy step at batch 1 against the same
#           dispatches each only reading its bytes (and reading one unit), and each kind's fastest read alone,
#           timestamps not rounded                                                     -> roofline.txt
#   profile bench/profile.ts decode,dtypes: GPU time by kind of dispatch, float32 / float16 / int4,
#           timestamp quantization off                                                 -> profile.txt
# env.txt has the driver, clocks and when each step ended; clocks.csv the SM and memory clocks, power and
# throttle reasons through the call (more than 8 files: the others in steps.tgz). BENCH_MATVEC_TRIALS set for the call applies to every step (e.g. a
# trial the matvec table and the trial sets found faster, beside llama.cpp).
#
# Prepare here, from the project root (the device has no Node.js and reaches nothing):
#   ../shared/gpu/pack.sh bench/gpu.ts bench/profile.ts bench/gemm.ts bench/scale.ts bench/dispatch.ts bench/host.ts bench/lag.ts bench/prefetch.ts bench/pause.ts bench/roofline.ts   # -> .gpu/
#   mkdir -p .peers && cp ../shared/peers/* .peers/                     # llama.cpp's source and GGUF writer
#   optional, for "old": bash bench/bundle_old.sh REV
#   (.gpu/, .gpu-old/ and .peers/ listed in .git/info/exclude)
# The device call: carry [".gpu", ".gpu-old", ".peers"], command `LIMIT=470 bash bench/h200_call.sh`
# (or STEPS="..." LIMIT=470 bash bench/h200_call.sh), timeout_s 530. A call returns 8 files in all,
# subfolders of $OUT included (call 110 lost a second run's roofline that way): one run a call, or a
# second run's folder archived by the command itself.
R=$(pwd)
source .gpu/setup.sh
cd /tmp/gpu/bundle || exit 1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv > "$OUT/env.txt" 2>&1
# the clocks, power and throttle reasons through the call, 4 a second (a kernel's rate that follows the
# SM clock is arithmetic; one that follows neither clock is something else)
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,utilization.gpu,pstate,clocks_throttle_reasons.active \
  --format=csv,noheader -lms 250 > "$OUT/clocks.csv" 2>&1 &
CLOCKS=$!
t0=$(date +%s)
LIMIT=${LIMIT:-480}
# (unset: the default steps; set but empty: only H200_STEPS, on an H200)
STEPS=${STEPS-f16 llama new matvec int4}
# steps only worth their time on an H200 (the issue's machine; H100s come more often): H200_STEPS after STEPS
grep -q H200 "$OUT/env.txt" && STEPS="$STEPS ${H200_STEPS:-}"
stamp() { echo "$1 at $(( $(date +%s) - t0 )) s ($(date +%T))" >> "$OUT/env.txt"; }
# runs "$@" for at most $1 seconds, cut to what is left of LIMIT; skipped when under 20 s are left
step() {
  local want=$1; shift
  local left=$(( LIMIT - ($(date +%s) - t0) ))
  if [ $left -lt 20 ]; then echo "skipped: $*" >> "$OUT/env.txt"; return; fi
  timeout $(( want < left ? want : left )) "$@"
}
BUILD=
rm -f /tmp/llama-build.txt
if [[ " $STEPS " == *" llama "* ]]; then
  # llama.cpp's build (~150 s on 16 cores) beside our first steps, which the GPU bounds; "none" writes no model
  (nice -n 10 bash "$R/.peers/llamacpp_cuda.sh" "none:f32" > /tmp/llama-build.txt 2>&1) &
  BUILD=$!
fi
export BENCH_SHAPE=${BENCH_SHAPE:-2.8b} BENCH_OP_BY_OP=0 BENCH_BITS=4 BENCH_DAWN_FLAGS="enable-dawn-features=allow_unsafe_apis"
# GPU timestamps as they are (Dawn rounds them unless told not to), for the steps that time kernels alone
EXACT_TIMES="$BENCH_DAWN_FLAGS disable-dawn-features=timestamp_quantization"
for s in $STEPS; do
  case $s in
    f16) step ${F16_SECONDS:-150} env BENCH_DECODE_TRIALS="${F16_TRIALS:-}" node gpu.mjs float16 > "$OUT/f16.txt" 2>&1 ;;
    llama) wait $BUILD; stamp build; step ${LLAMA_SECONDS:-100} bash "$R/.peers/llamacpp_cuda.sh" "${LLAMA_SPECS:-2.8b:f16}" 128,512 64 > "$OUT/llama.txt" 2>&1 ;;
    new) for shape in ${NEW_SHAPES:-$BENCH_SHAPE}; do
           # (new.txt for BENCH_SHAPE, new-<shape>.txt for the others)
           step ${NEW_SECONDS:-75} env BENCH_SHAPE=$shape BENCH_DECODE_TRIALS="${DECODE_TRIALS:-}" node gpu.mjs decode > "$OUT/new$([ "$shape" = "$BENCH_SHAPE" ] || echo "-$shape").txt" 2>&1
         done ;;
    oldf16) [ -f "$R/.gpu-old/gpu.mjs" ] && cp "$R/.gpu-old/gpu.mjs" old_gpu.mjs &&
           step 150 node old_gpu.mjs float16 > "$OUT/oldf16.txt" 2>&1 ;;
    old) [ -f "$R/.gpu-old/gpu.mjs" ] && cp "$R/.gpu-old/gpu.mjs" old_gpu.mjs && for shape in ${NEW_SHAPES:-$BENCH_SHAPE}; do
           step ${NEW_SECONDS:-75} env BENCH_SHAPE=$shape node old_gpu.mjs decode > "$OUT/old$([ "$shape" = "$BENCH_SHAPE" ] || echo "-$shape").txt" 2>&1
         done ;;
    matvec) step 150 env BENCH_PART=matvec BENCH_DAWN_FLAGS="$EXACT_TIMES" node gemm.mjs > "$OUT/matvec.txt" 2>&1 ;;
    ablation) step ${ABLATION_SECONDS:-150} env BENCH_PART=ablation BENCH_DAWN_FLAGS="$EXACT_TIMES" node gemm.mjs > "$OUT/ablation.txt" 2>&1 ;;
    stages) step 90 env BENCH_PART=stages BENCH_DAWN_FLAGS="$EXACT_TIMES" node gemm.mjs > "$OUT/stages.txt" 2>&1 ;;
    oldstages) [ -f "$R/.gpu-old/gemm.mjs" ] && cp "$R/.gpu-old/gemm.mjs" old_gemm.mjs &&
           step 90 env BENCH_PART=stages BENCH_DAWN_FLAGS="$EXACT_TIMES" node old_gemm.mjs > "$OUT/oldstages.txt" 2>&1 ;;
    ssm) step 120 env BENCH_PART=ssm STAGE_WEIGHTS=${SSM_WEIGHTS:-float32,float16} BENCH_DAWN_FLAGS="$EXACT_TIMES" node gemm.mjs > "$OUT/ssm.txt" 2>&1 ;;
    oldssm) [ -f "$R/.gpu-old/gemm.mjs" ] && cp "$R/.gpu-old/gemm.mjs" old_gemm.mjs &&
           step 120 env BENCH_PART=ssm STAGE_WEIGHTS=${SSM_WEIGHTS:-float32,float16} BENCH_DAWN_FLAGS="$EXACT_TIMES" node old_gemm.mjs > "$OUT/oldssm.txt" 2>&1 ;;
    ssmbest) best=$(sed -n "s/^fastest ssm layout: $BENCH_SHAPE float32 8 //p" "$OUT/ssm.txt" 2>/dev/null)
           [ -n "$best" ] && step ${NEW_SECONDS:-75} env BENCH_SSM_LAYOUT="$best" node gpu.mjs decode > "$OUT/ssmbest.txt" 2>&1 ;;
    grid) step ${GRID_SECONDS:-200} env BENCH_PART=matvec MATVEC_GRID=1 BENCH_DAWN_FLAGS="$EXACT_TIMES" node gemm.mjs > "$OUT/grid.txt" 2>&1 ;;
    gridf16) step ${GRID_SECONDS:-200} env BENCH_PART=matvec MATVEC_GRID=1 GRID_WEIGHTS=float16 GRID_BATCHES=1 BENCH_DAWN_FLAGS="$EXACT_TIMES" node gemm.mjs > "$OUT/gridf16.txt" 2>&1 ;;
    robust) step 75 env BENCH_DAWN_FLAGS="$BENCH_DAWN_FLAGS disable-dawn-features=disable_robustness" node gpu.mjs "${ROBUST_MODES:-decode}" > "$OUT/robust.txt" 2>&1 ;;
    validated) step 150 env BENCH_DAWN_FLAGS="$BENCH_DAWN_FLAGS disable-dawn-features=skip_validation" node gpu.mjs "${VALIDATED_MODES:-decode}" > "$OUT/validated.txt" 2>&1 ;;
    int4) step 180 env BENCH_DECODE_TRIALS="${INT4_TRIALS:-}" node gpu.mjs quant > "$OUT/int4.txt" 2>&1 ;;
    oldint4) [ -f "$R/.gpu-old/gpu.mjs" ] && cp "$R/.gpu-old/gpu.mjs" old_gpu.mjs &&
           step 180 node old_gpu.mjs quant > "$OUT/oldint4.txt" 2>&1 ;;
    roofline) step ${ROOFLINE_SECONDS:-150} env BENCH_DAWN_FLAGS="$EXACT_TIMES" node roofline.mjs "${ROOFLINE_FORMATS:-float16,int4}" > "$OUT/roofline.txt" 2>&1 ;;
    profile) step 150 env BENCH_DAWN_FLAGS="$EXACT_TIMES" node profile.mjs decode,dtypes > "$OUT/profile.txt" 2>&1 ;;
    host) step 240 env BENCH_DAWN_FLAGS="$EXACT_TIMES" node host.mjs "${HOST_FORMATS:-float32,float16}" > "$OUT/host.txt" 2>&1 ;;
    oldhost) [ -f "$R/.gpu-old/host.mjs" ] && cp "$R/.gpu-old/host.mjs" old_host.mjs &&
           step 240 env BENCH_DAWN_FLAGS="$EXACT_TIMES" node old_host.mjs "${HOST_FORMATS:-float32,float16}" > "$OUT/oldhost.txt" 2>&1 ;;
    oldlag) [ -f "$R/.gpu-old/lag.mjs" ] && cp "$R/.gpu-old/lag.mjs" old_lag.mjs \
           && step 260 env BENCH_SHAPE=${LAG_SHAPE:-$BENCH_SHAPE} BENCH_DAWN_FLAGS="$EXACT_TIMES" node old_lag.mjs "${LAG_FORMATS:-float32,float16}" > "$OUT/oldlag.txt" 2>&1 ;;
    lag) step 260 env BENCH_SHAPE=${LAG_SHAPE:-$BENCH_SHAPE} BENCH_DAWN_FLAGS="$EXACT_TIMES" node lag.mjs "${LAG_FORMATS:-float32,float16}" > "$OUT/lag.txt" 2>&1 ;;
    pause) step 150 node pause.mjs "${PAUSE_FORMATS:-float32}" > "$OUT/pause.txt" 2>&1 ;;
    oldpause) [ -f "$R/.gpu-old/pause.mjs" ] && cp "$R/.gpu-old/pause.mjs" old_pause.mjs &&
           step 150 node old_pause.mjs "${PAUSE_FORMATS:-float32}" > "$OUT/oldpause.txt" 2>&1 ;;
    prefetch) step 120 env BENCH_DAWN_FLAGS="$EXACT_TIMES" node prefetch.mjs > "$OUT/prefetch.txt" 2>&1 ;;
    scale) step 200 env SCALE_SHAPES=2.8b SCALE_DTYPES=float16 node scale.mjs > "$OUT/scale.txt" 2>&1 ;;
    *) echo "h200_call.sh: no step $s" >> "$OUT/env.txt" ;;
  esac
  stamp "$s"
done
kill $CLOCKS 2> /dev/null
rm -f "$OUT/gpu.md" "$OUT/gpu.json" "$OUT/gemm.md" "$OUT/host.md" "$OUT/lag.md" "$OUT/pause.md"
[ -f /tmp/llama-build.txt ] && grep -v "^$" /tmp/llama-build.txt | tail -2 >> "$OUT/env.txt"
# At most 8 files come back from a call: past that, the steps' outputs travel as one archive, steps.tgz
# (call 22 lost old.txt and old-130m.txt, the ninth and tenth).
if [ "$(ls "$OUT" | wc -l)" -gt 8 ]; then
  (cd "$OUT" && tar czf steps.tgz --remove-files $(ls | grep -v -x -e env.txt -e clocks.csv -e steps.tgz))
fi
exit 0
