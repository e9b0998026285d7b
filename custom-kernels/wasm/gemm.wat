;; The prefill projection in WebAssembly SIMD, run in place on tfjs-backend-wasm's memory (pointers are
;; byte offsets into it), W in PyTorch's [out, in] layout as stored:
;;   y[t, n] = bias[n] + sum_k x[t, k] W[n, k]      x rows ldx floats apart, y rows ldy floats apart
;; Every output is a dot product along k, 4 floats to a vector (float32 sums; the lanes are added at
;; the end, then the last K % 4 products one at a time). A tile of 4 tokens x 2 outputs keeps 8 sums
;; in registers and reads 4 vectors of x and 2 of W a step: V8 hoists a step's loads, so 8 sums + 6
;; loads + a product fill x86's 15 usable vector registers (a 3 x 3 tile spilled a sum to the stack on
;; every step and ran at 2/3 the speed). Nothing is called while sums are live, for the same reason.
;; Tokens go in chunks of 48, whose rows of x stay in cache while the tiles walk the outputs; a tile's
;; 2 rows of W stay in cache while it walks the chunk. No packing and no transposes: W and x are read
;; where they lie, and y may be a column range of a wider matrix. A call computes the tokens
;; t0 <= t < t1 and the outputs n0 <= n < n1, so that threads can share a product (heap_pool.ts)
;; along either; each output is summed as it is unsplit. One thread here: about 35 GFLOP/s at
;; 512 x 768 @ 768 x 3072 when quiet, tfjs' XNNPACK 36.
;; Assembled by scripts/build-wasm.mjs (npm run build:wasm) into gemm_wasm.ts; the tiles are written
;; out by hand-unrolling (no macros in the text format): tile4x2, tile1x2 (a chunk's last tokens) and
;; tile1x1 (a range's odd output).
(module
  (memory (import "env" "memory") 1)

  (global $CHUNK i32 (i32.const 48))

  (func $tile4x2 (param $x i32) (param $xStride i32) (param $w i32) (param $kBytes i32)
                 (param $y i32) (param $yStride i32) (param $bias i32) (param $hasBias i32)
    (local $x1 i32) (local $x2 i32) (local $x3 i32) (local $w1 i32) (local $i i32) (local $vecBytes i32) (local $tail f32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $v v128) (local $b0 f32) (local $b1 f32)
    (local $s00 v128) (local $s01 v128)
    (local $s10 v128) (local $s11 v128)
    (local $s20 v128) (local $s21 v128)
    (local $s30 v128) (local $s31 v128)
    (local.set $x1 (i32.add (local.get $x) (local.get $xStride)))
    (local.set $x2 (i32.add (local.get $x1) (local.get $xStride)))
    (local.set $x3 (i32.add (local.get $x2) (local.get $xStride)))
    (local.set $w1 (i32.add (local.get $w) (local.get $kBytes)))
    (local.set $vecBytes (i32.and (local.get $kBytes) (i32.const -16)))
    (block $kDone (loop $k
      (br_if $kDone (i32.ge_u (local.get $i) (local.get $vecBytes)))
      (local.set $a0 (v128.load offset=0 (i32.add (local.get $x) (local.get $i))))
      (local.set $a1 (v128.load offset=0 (i32.add (local.get $x1) (local.get $i))))
      (local.set $a2 (v128.load offset=0 (i32.add (local.get $x2) (local.get $i))))
      (local.set $a3 (v128.load offset=0 (i32.add (local.get $x3) (local.get $i))))
      (local.set $v (v128.load offset=0 (i32.add (local.get $w) (local.get $i))))
      (local.set $s00 (f32x4.add (local.get $s00) (f32x4.mul (local.get $a0) (local.get $v))))
      (local.set $s10 (f32x4.add (local.get $s10) (f32x4.mul (local.get $a1) (local.get $v))))
      (local.set $s20 (f32x4.add (local.get $s20) (f32x4.mul (local.get $a2) (local.get $v))))
      (local.set $s30 (f32x4.add (local.get $s30) (f32x4.mul (local.get $a3) (local.get $v))))
      (local.set $v (v128.load offset=0 (i32.add (local.get $w1) (local.get $i))))
      (local.set $s01 (f32x4.add (local.get $s01) (f32x4.mul (local.get $a0) (local.get $v))))
      (local.set $s11 (f32x4.add (local.get $s11) (f32x4.mul (local.get $a1) (local.get $v))))
      (local.set $s21 (f32x4.add (local.get $s21) (f32x4.mul (local.get $a2) (local.get $v))))
      (local.set $s31 (f32x4.add (local.get $s31) (f32x4.mul (local.get $a3) (local.get $v))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $k)))
    ;; no calls while the sums are live: V8 spills values live across a call on every step of the loop
    (if (local.get $hasBias) (then
      (local.set $b0 (f32.load offset=0 (local.get $bias)))
      (local.set $b1 (f32.load offset=4 (local.get $bias)))))
    (local.set $tail (f32.const 0))
    (local.set $i (local.get $vecBytes))
    (block $tailDone00 (loop $tail00
      (br_if $tailDone00 (i32.ge_u (local.get $i) (local.get $kBytes)))
      (local.set $tail (f32.add (local.get $tail) (f32.mul (f32.load (i32.add (local.get $x) (local.get $i))) (f32.load (i32.add (local.get $w) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $tail00)))
    (f32.store offset=0 (local.get $y) (f32.add (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s00)) (f32x4.extract_lane 1 (local.get $s00))) (f32.add (f32x4.extract_lane 2 (local.get $s00)) (f32x4.extract_lane 3 (local.get $s00)))) (local.get $tail)) (local.get $b0)))
    (local.set $tail (f32.const 0))
    (local.set $i (local.get $vecBytes))
    (block $tailDone01 (loop $tail01
      (br_if $tailDone01 (i32.ge_u (local.get $i) (local.get $kBytes)))
      (local.set $tail (f32.add (local.get $tail) (f32.mul (f32.load (i32.add (local.get $x) (local.get $i))) (f32.load (i32.add (local.get $w1) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $tail01)))
    (f32.store offset=4 (local.get $y) (f32.add (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s01)) (f32x4.extract_lane 1 (local.get $s01))) (f32.add (f32x4.extract_lane 2 (local.get $s01)) (f32x4.extract_lane 3 (local.get $s01)))) (local.get $tail)) (local.get $b1)))
    (local.set $y (i32.add (local.get $y) (local.get $yStride)))
    (local.set $tail (f32.const 0))
    (local.set $i (local.get $vecBytes))
    (block $tailDone10 (loop $tail10
      (br_if $tailDone10 (i32.ge_u (local.get $i) (local.get $kBytes)))
      (local.set $tail (f32.add (local.get $tail) (f32.mul (f32.load (i32.add (local.get $x1) (local.get $i))) (f32.load (i32.add (local.get $w) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $tail10)))
    (f32.store offset=0 (local.get $y) (f32.add (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s10)) (f32x4.extract_lane 1 (local.get $s10))) (f32.add (f32x4.extract_lane 2 (local.get $s10)) (f32x4.extract_lane 3 (local.get $s10)))) (local.get $tail)) (local.get $b0)))
    (local.set $tail (f32.const 0))
    (local.set $i (local.get $vecBytes))
    (block $tailDone11 (loop $tail11
      (br_if $tailDone11 (i32.ge_u (local.get $i) (local.get $kBytes)))
      (local.set $tail (f32.add (local.get $tail) (f32.mul (f32.load (i32.add (local.get $x1) (local.get $i))) (f32.load (i32.add (local.get $w1) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $tail11)))
    (f32.store offset=4 (local.get $y) (f32.add (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s11)) (f32x4.extract_lane 1 (local.get $s11))) (f32.add (f32x4.extract_lane 2 (local.get $s11)) (f32x4.extract_lane 3 (local.get $s11)))) (local.get $tail)) (local.get $b1)))
    (local.set $y (i32.add (local.get $y) (local.get $yStride)))
    (local.set $tail (f32.const 0))
    (local.set $i (local.get $vecBytes))
    (block $tailDone20 (loop $tail20
      (br_if $tailDone20 (i32.ge_u (local.get $i) (local.get $kBytes)))
      (local.set $tail (f32.add (local.get $tail) (f32.mul (f32.load (i32.add (local.get $x2) (local.get $i))) (f32.load (i32.add (local.get $w) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $tail20)))
    (f32.store offset=0 (local.get $y) (f32.add (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s20)) (f32x4.extract_lane 1 (local.get $s20))) (f32.add (f32x4.extract_lane 2 (local.get $s20)) (f32x4.extract_lane 3 (local.get $s20)))) (local.get $tail)) (local.get $b0)))
    (local.set $tail (f32.const 0))
    (local.set $i (local.get $vecBytes))
    (block $tailDone21 (loop $tail21
      (br_if $tailDone21 (i32.ge_u (local.get $i) (local.get $kBytes)))
      (local.set $tail (f32.add (local.get $tail) (f32.mul (f32.load (i32.add (local.get $x2) (local.get $i))) (f32.load (i32.add (local.get $w1) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $tail21)))
    (f32.store offset=4 (local.get $y) (f32.add (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s21)) (f32x4.extract_lane 1 (local.get $s21))) (f32.add (f32x4.extract_lane 2 (local.get $s21)) (f32x4.extract_lane 3 (local.get $s21)))) (local.get $tail)) (local.get $b1)))
    (local.set $y (i32.add (local.get $y) (local.get $yStride)))
    (local.set $tail (f32.const 0))
    (local.set $i (local.get $vecBytes))
    (block $tailDone30 (loop $tail30
      (br_if $tailDone30 (i32.ge_u (local.get $i) (local.get $kBytes)))
      (local.set $tail (f32.add (local.get $tail) (f32.mul (f32.load (i32.add (local.get $x3) (local.get $i))) (f32.load (i32.add (local.get $w) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $tail30)))
    (f32.store offset=0 (local.get $y) (f32.add (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s30)) (f32x4.extract_lane 1 (local.get $s30))) (f32.add (f32x4.extract_lane 2 (local.get $s30)) (f32x4.extract_lane 3 (local.get $s30)))) (local.get $tail)) (local.get $b0)))
    (local.set $tail (f32.const 0))
    (local.set $i (local.get $vecBytes))
    (block $tailDone31 (loop $tail31
      (br_if $tailDone31 (i32.ge_u (local.get $i) (local.get $kBytes)))
      (local.set $tail (f32.add (local.get $tail) (f32.mul (f32.load (i32.add (local.get $x3) (local.get $i))) (f32.load (i32.add (local.get $w1) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $tail31)))
    (f32.store offset=4 (local.get $y) (f32.add (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s31)) (f32x4.extract_lane 1 (local.get $s31))) (f32.add (f32x4.extract_lane 2 (local.get $s31)) (f32x4.extract_lane 3 (local.get $s31)))) (local.get $tail)) (local.get $b1))))

  (func $tile1x2 (param $x i32) (param $xStride i32) (param $w i32) (param $kBytes i32)
                 (param $y i32) (param $yStride i32) (param $bias i32) (param $hasBias i32)
    (local $w1 i32) (local $i i32) (local $vecBytes i32) (local $tail f32)
    (local $a0 v128) (local $v v128) (local $b0 f32) (local $b1 f32)
    (local $s00 v128) (local $s01 v128)
    (local.set $w1 (i32.add (local.get $w) (local.get $kBytes)))
    (local.set $vecBytes (i32.and (local.get $kBytes) (i32.const -16)))
    (block $kDone (loop $k
      (br_if $kDone (i32.ge_u (local.get $i) (local.get $vecBytes)))
      (local.set $a0 (v128.load offset=0 (i32.add (local.get $x) (local.get $i))))
      (local.set $v (v128.load offset=0 (i32.add (local.get $w) (local.get $i))))
      (local.set $s00 (f32x4.add (local.get $s00) (f32x4.mul (local.get $a0) (local.get $v))))
      (local.set $v (v128.load offset=0 (i32.add (local.get $w1) (local.get $i))))
      (local.set $s01 (f32x4.add (local.get $s01) (f32x4.mul (local.get $a0) (local.get $v))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $k)))
    ;; no calls while the sums are live: V8 spills values live across a call on every step of the loop
    (if (local.get $hasBias) (then
      (local.set $b0 (f32.load offset=0 (local.get $bias)))
      (local.set $b1 (f32.load offset=4 (local.get $bias)))))
    (local.set $tail (f32.const 0))
    (local.set $i (local.get $vecBytes))
    (block $tailDone00 (loop $tail00
      (br_if $tailDone00 (i32.ge_u (local.get $i) (local.get $kBytes)))
      (local.set $tail (f32.add (local.get $tail) (f32.mul (f32.load (i32.add (local.get $x) (local.get $i))) (f32.load (i32.add (local.get $w) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $tail00)))
    (f32.store offset=0 (local.get $y) (f32.add (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s00)) (f32x4.extract_lane 1 (local.get $s00))) (f32.add (f32x4.extract_lane 2 (local.get $s00)) (f32x4.extract_lane 3 (local.get $s00)))) (local.get $tail)) (local.get $b0)))
    (local.set $tail (f32.const 0))
    (local.set $i (local.get $vecBytes))
    (block $tailDone01 (loop $tail01
      (br_if $tailDone01 (i32.ge_u (local.get $i) (local.get $kBytes)))
      (local.set $tail (f32.add (local.get $tail) (f32.mul (f32.load (i32.add (local.get $x) (local.get $i))) (f32.load (i32.add (local.get $w1) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $tail01)))
    (f32.store offset=4 (local.get $y) (f32.add (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s01)) (f32x4.extract_lane 1 (local.get $s01))) (f32.add (f32x4.extract_lane 2 (local.get $s01)) (f32x4.extract_lane 3 (local.get $s01)))) (local.get $tail)) (local.get $b1))))

  (func $tile1x1 (param $x i32) (param $xStride i32) (param $w i32) (param $kBytes i32)
                 (param $y i32) (param $yStride i32) (param $bias i32) (param $hasBias i32)
    (local $i i32) (local $vecBytes i32) (local $tail f32)
    (local $a0 v128) (local $v v128) (local $b0 f32)
    (local $s00 v128)
    (local.set $vecBytes (i32.and (local.get $kBytes) (i32.const -16)))
    (block $kDone (loop $k
      (br_if $kDone (i32.ge_u (local.get $i) (local.get $vecBytes)))
      (local.set $a0 (v128.load offset=0 (i32.add (local.get $x) (local.get $i))))
      (local.set $v (v128.load offset=0 (i32.add (local.get $w) (local.get $i))))
      (local.set $s00 (f32x4.add (local.get $s00) (f32x4.mul (local.get $a0) (local.get $v))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $k)))
    ;; no calls while the sums are live: V8 spills values live across a call on every step of the loop
    (if (local.get $hasBias) (then
      (local.set $b0 (f32.load offset=0 (local.get $bias)))))
    (local.set $tail (f32.const 0))
    (local.set $i (local.get $vecBytes))
    (block $tailDone00 (loop $tail00
      (br_if $tailDone00 (i32.ge_u (local.get $i) (local.get $kBytes)))
      (local.set $tail (f32.add (local.get $tail) (f32.mul (f32.load (i32.add (local.get $x) (local.get $i))) (f32.load (i32.add (local.get $w) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $tail00)))
    (f32.store offset=0 (local.get $y) (f32.add (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s00)) (f32x4.extract_lane 1 (local.get $s00))) (f32.add (f32x4.extract_lane 2 (local.get $s00)) (f32x4.extract_lane 3 (local.get $s00)))) (local.get $tail)) (local.get $b0))))


  (func (export "gemm")
    (param $x i32) (param $ldx i32) (param $w i32) (param $bias i32) (param $y i32) (param $ldy i32)
    (param $K i32) (param $hasBias i32) (param $t0 i32) (param $t1 i32) (param $n0 i32) (param $n1 i32)
    (local $kBytes i32) (local $xStride i32) (local $yStride i32)
    (local $chunk i32) (local $chunkEnd i32) (local $n i32) (local $t i32) (local $wRow i32) (local $bAt i32)
    (if (i32.eqz (local.get $K)) (then (return)))
    (local.set $kBytes (i32.shl (local.get $K) (i32.const 2)))
    (local.set $xStride (i32.shl (local.get $ldx) (i32.const 2)))
    (local.set $yStride (i32.shl (local.get $ldy) (i32.const 2)))
    (local.set $chunk (local.get $t0))
    (block $chunksDone (loop $chunks
      (br_if $chunksDone (i32.ge_u (local.get $chunk) (local.get $t1)))
      (local.set $chunkEnd (i32.add (local.get $chunk) (global.get $CHUNK)))
      (if (i32.gt_u (local.get $chunkEnd) (local.get $t1)) (then (local.set $chunkEnd (local.get $t1))))
      (local.set $n (local.get $n0))
      ;; blocks of 2 outputs: tiles of 4 tokens, then the chunk's last tokens one at a time
      (block $outputsDone (loop $outputs
        (br_if $outputsDone (i32.gt_u (i32.add (local.get $n) (i32.const 2)) (local.get $n1)))
        (local.set $wRow (i32.add (local.get $w) (i32.mul (local.get $n) (local.get $kBytes))))
        (local.set $bAt (i32.add (local.get $bias) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $t (local.get $chunk))
        (block $tilesDone (loop $tiles
          (br_if $tilesDone (i32.gt_u (i32.add (local.get $t) (i32.const 4)) (local.get $chunkEnd)))
          (call $tile4x2
            (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $xStride))) (local.get $xStride)
            (local.get $wRow) (local.get $kBytes)
            (i32.add (local.get $y) (i32.add (i32.mul (local.get $t) (local.get $yStride)) (i32.shl (local.get $n) (i32.const 2))))
            (local.get $yStride) (local.get $bAt) (local.get $hasBias))
          (local.set $t (i32.add (local.get $t) (i32.const 4)))
          (br $tiles)))
        (block $singlesDone (loop $singles
          (br_if $singlesDone (i32.ge_u (local.get $t) (local.get $chunkEnd)))
          (call $tile1x2
            (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $xStride))) (local.get $xStride)
            (local.get $wRow) (local.get $kBytes)
            (i32.add (local.get $y) (i32.add (i32.mul (local.get $t) (local.get $yStride)) (i32.shl (local.get $n) (i32.const 2))))
            (local.get $yStride) (local.get $bAt) (local.get $hasBias))
          (local.set $t (i32.add (local.get $t) (i32.const 1)))
          (br $singles)))
        (local.set $n (i32.add (local.get $n) (i32.const 2)))
        (br $outputs)))
      ;; the range's last outputs (fewer than 2), one at a time
      (block $restDone (loop $rest
        (br_if $restDone (i32.ge_u (local.get $n) (local.get $n1)))
        (local.set $wRow (i32.add (local.get $w) (i32.mul (local.get $n) (local.get $kBytes))))
        (local.set $bAt (i32.add (local.get $bias) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $t (local.get $chunk))
        (block $tokensDone (loop $tokens
          (br_if $tokensDone (i32.ge_u (local.get $t) (local.get $chunkEnd)))
          (call $tile1x1
            (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $xStride))) (local.get $xStride)
            (local.get $wRow) (local.get $kBytes)
            (i32.add (local.get $y) (i32.add (i32.mul (local.get $t) (local.get $yStride)) (i32.shl (local.get $n) (i32.const 2))))
            (local.get $yStride) (local.get $bAt) (local.get $hasBias))
          (local.set $t (i32.add (local.get $t) (i32.const 1)))
          (br $tokens)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $rest)))
      (local.set $chunk (local.get $chunkEnd))
      (br $chunks)))))

