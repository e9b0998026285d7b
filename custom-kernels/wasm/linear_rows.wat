;; The decode-time projection (kernel contract LinearRows: custom-kernels/kernel_names.ts) in WebAssembly SIMD,
;; run in place on tfjs-backend-wasm's memory: every pointer is a byte offset into the imported memory,
;; where tfjs keeps the tensors.
;;   y[n, o] = bias[o] + sum_i x[n, i] W[o, i]      x [rows, in], W [out, in], y [rows, out]
;; W in PyTorch's [out, in] layout makes every output a contiguous dot product: 4 floats to a vector,
;; float32 accumulation. One row of x (decoding) streams W in four stretches at once; for a few rows a block of 4
;; outputs shares each load of x and its rows of W stay in cache from one row of x to the next, so W
;; is read from memory once and the kernel runs at memory bandwidth. Any `in` (a scalar tail after
;; the last whole vector), any `out` (blocks of 4, then the last few one at a time). A call computes the outputs
;; o0 <= o < o1 of every row (y's rows stay `out` apart), so that threads can share a product
;; (heap_pool.ts); split at multiples of 16, each output is summed as it is unsplit.
;; Assembled by scripts/build-wasm.mjs (npm run build:wasm) into linear_rows_wasm.ts.
(module
  (memory (import "env" "memory") 1)

  ;; The sums of a0, a1, a2 and a3's lanes side by side: pairwise adds of lanes 0,1 + 2,3, then of
  ;; even + odd lanes.
  (func $sum4 (param $a0 v128) (param $a1 v128) (param $a2 v128) (param $a3 v128) (result v128)
    (local $u v128) (local $v v128)
    (local.set $u (f32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a0) (local.get $a1))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a0) (local.get $a1))))
    (local.set $v (f32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a2) (local.get $a3))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a2) (local.get $a3))))
    (f32x4.add
      (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $u) (local.get $v))
      (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $u) (local.get $v))))

  ;; The scalar tail of 4 dot products: sum over bytes i.. of a row of x[i] times the 4 rows of W from
  ;; $w0 at i, as a vector.
  (func $tail4 (param $xRow i32) (param $w0 i32) (param $rowBytes i32) (param $i i32) (result v128)
    (local $sum v128) (local $p i32)
    (block $done (loop $tail
      (br_if $done (i32.ge_u (local.get $i) (local.get $rowBytes)))
      (local.set $p (i32.add (local.get $w0) (local.get $i)))
      (local.set $sum (f32x4.add (local.get $sum) (f32x4.mul
        (f32x4.splat (f32.load (i32.add (local.get $xRow) (local.get $i))))
        (f32x4.replace_lane 3 (f32x4.replace_lane 2 (f32x4.replace_lane 1
          (f32x4.splat (f32.load (local.get $p)))
          (f32.load (local.tee $p (i32.add (local.get $p) (local.get $rowBytes)))))
          (f32.load (local.tee $p (i32.add (local.get $p) (local.get $rowBytes)))))
          (f32.load (i32.add (local.get $p) (local.get $rowBytes)))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $tail)))
    (local.get $sum))

  ;; y[o..o+3] = v (+ bias[o..o+3]), y a row of the output
  (func $store4 (param $y i32) (param $bias i32) (param $hasBias i32) (param $o i32) (param $v v128)
    (local.set $o (i32.shl (local.get $o) (i32.const 2)))
    (if (local.get $hasBias) (then
      (local.set $v (f32x4.add (local.get $v) (v128.load (i32.add (local.get $bias) (local.get $o)))))))
    (v128.store (i32.add (local.get $y) (local.get $o)) (local.get $v)))

;; One output's dot product from its sums so far: a (W's vectors at bytes 0, 32, ..) and c (at 16,
  ;; 48, ..) up to byte i, then the row's last whole vector (into a), (a + c), its lanes pairwise, the
  ;; scalar tail.
  (func $rowSum (param $x i32) (param $wRow i32) (param $a v128) (param $c v128) (param $i i32)
    (param $vecBytes i32) (param $rowBytes i32) (result f32)
    (local $s f32)
    (if (i32.lt_u (local.get $i) (local.get $vecBytes)) (then
      (local.set $a (f32x4.add (local.get $a) (f32x4.mul
        (v128.load (i32.add (local.get $x) (local.get $i))) (v128.load (i32.add (local.get $wRow) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))))
    (local.set $a (f32x4.add (local.get $a) (local.get $c)))
    (local.set $s (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $a)) (f32x4.extract_lane 2 (local.get $a)))
      (f32.add (f32x4.extract_lane 1 (local.get $a)) (f32x4.extract_lane 3 (local.get $a)))))
    (block $tailDone (loop $tail
      (br_if $tailDone (i32.ge_u (local.get $i) (local.get $rowBytes)))
      (local.set $s (f32.add (local.get $s) (f32.mul
        (f32.load (i32.add (local.get $x) (local.get $i))) (f32.load (i32.add (local.get $wRow) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $tail)))
    (local.get $s))

  ;; y[o] = s (+ bias[o])
  (func $store1 (param $y i32) (param $bias i32) (param $hasBias i32) (param $o i32) (param $s f32)
    (local.set $o (i32.shl (local.get $o) (i32.const 2)))
    (if (local.get $hasBias) (then
      (local.set $s (f32.add (local.get $s) (f32.load (i32.add (local.get $bias) (local.get $o)))))))
    (f32.store (i32.add (local.get $y) (local.get $o)) (local.get $s)))

  (func (export "linearRows")
    (param $x i32) (param $w i32) (param $bias i32) (param $y i32)
    (param $rows i32) (param $in i32) (param $out i32) (param $hasBias i32) (param $o0 i32) (param $o1 i32)
    (local $rowBytes i32) (local $vecBytes i32)   ;; bytes in a row of x or W; in its whole vectors
    (local $o i32) (local $n i32) (local $i i32) (local $p i32)
    (local $w0 i32) (local $w1 i32) (local $w2 i32) (local $w3 i32)   ;; a block's rows of W
    (local $xRow i32) (local $xAt i32) (local $xv v128) (local $xw v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)   ;; one row's 4 sums
    (local $s f32)
    (local.set $o (local.get $o0))
    (local.set $rowBytes (i32.shl (local.get $in) (i32.const 2)))
    (local.set $vecBytes (i32.and (local.get $rowBytes) (i32.const -16)))

    ;; One row (batch-1 decoding): the thread's outputs as four stretches read side by side, each
    ;; stretch's rows of W end to end: four streams, which the prefetchers follow, 8 floats a step of
    ;; each into 2 sums. On one core, for a 130m token's matrices with W past the caches, 11.7 GB/s
    ;; against 8.9 for one stream on the GPU host's Xeon, 30.5 against 26.6 on an EPYC: one stream
    ;; leaves the core's memory bandwidth unused. Every output is summed alike (rowSum), whichever
    ;; stretch it falls in. x stays in L1.
    (if (i32.eq (local.get $rows) (i32.const 1)) (then
      (local.set $n (i32.shr_u (i32.sub (local.get $o1) (local.get $o0)) (i32.const 2)))   ;; a stretch's outputs
      (local.set $p (i32.mul (local.get $n) (local.get $rowBytes)))   ;; a stretch's bytes of W
      (block $streamsDone (loop $streams
        (br_if $streamsDone (i32.ge_u (local.get $o) (i32.add (local.get $o0) (local.get $n))))
        (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $o) (local.get $rowBytes))))
        (local.set $w1 (i32.add (local.get $w0) (local.get $p)))
        (local.set $w2 (i32.add (local.get $w1) (local.get $p)))
        (local.set $w3 (i32.add (local.get $w2) (local.get $p)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0))
        (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $c0 (v128.const i32x4 0 0 0 0))
        (local.set $c1 (v128.const i32x4 0 0 0 0))
        (local.set $c2 (v128.const i32x4 0 0 0 0))
        (local.set $c3 (v128.const i32x4 0 0 0 0))
        (local.set $i (i32.const 0))
        (block $wideDone (loop $wide
          (br_if $wideDone (i32.gt_u (i32.add (local.get $i) (i32.const 32)) (local.get $vecBytes)))
          (local.set $xAt (i32.add (local.get $x) (local.get $i)))
          (local.set $xv (v128.load (local.get $xAt)))
          (local.set $xw (v128.load offset=16 (local.get $xAt)))
          (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $xv) (v128.load (i32.add (local.get $w0) (local.get $i))))))
          (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (local.get $xw) (v128.load offset=16 (i32.add (local.get $w0) (local.get $i))))))
          (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $xv) (v128.load (i32.add (local.get $w1) (local.get $i))))))
          (local.set $c1 (f32x4.add (local.get $c1) (f32x4.mul (local.get $xw) (v128.load offset=16 (i32.add (local.get $w1) (local.get $i))))))
          (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $xv) (v128.load (i32.add (local.get $w2) (local.get $i))))))
          (local.set $c2 (f32x4.add (local.get $c2) (f32x4.mul (local.get $xw) (v128.load offset=16 (i32.add (local.get $w2) (local.get $i))))))
          (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $xv) (v128.load (i32.add (local.get $w3) (local.get $i))))))
          (local.set $c3 (f32x4.add (local.get $c3) (f32x4.mul (local.get $xw) (v128.load offset=16 (i32.add (local.get $w3) (local.get $i))))))
          (local.set $i (i32.add (local.get $i) (i32.const 32)))
          (br $wide)))
        (call $store1 (local.get $y) (local.get $bias) (local.get $hasBias) (local.get $o)
          (call $rowSum (local.get $x) (local.get $w0) (local.get $a0) (local.get $c0) (local.get $i) (local.get $vecBytes) (local.get $rowBytes)))
        (call $store1 (local.get $y) (local.get $bias) (local.get $hasBias) (i32.add (local.get $o) (local.get $n))
          (call $rowSum (local.get $x) (local.get $w1) (local.get $a1) (local.get $c1) (local.get $i) (local.get $vecBytes) (local.get $rowBytes)))
        (call $store1 (local.get $y) (local.get $bias) (local.get $hasBias) (i32.add (local.get $o) (i32.shl (local.get $n) (i32.const 1)))
          (call $rowSum (local.get $x) (local.get $w2) (local.get $a2) (local.get $c2) (local.get $i) (local.get $vecBytes) (local.get $rowBytes)))
        (call $store1 (local.get $y) (local.get $bias) (local.get $hasBias) (i32.add (local.get $o) (i32.mul (local.get $n) (i32.const 3)))
          (call $rowSum (local.get $x) (local.get $w3) (local.get $a3) (local.get $c3) (local.get $i) (local.get $vecBytes) (local.get $rowBytes)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $streams)))
      ;; the last (o1 - o0) % 4 outputs, one at a time, summed as the others
      (local.set $o (i32.add (local.get $o0) (i32.shl (local.get $n) (i32.const 2))))
      (block $restDone (loop $rest
        (br_if $restDone (i32.ge_u (local.get $o) (local.get $o1)))
        (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $o) (local.get $rowBytes))))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $c0 (v128.const i32x4 0 0 0 0))
        (local.set $i (i32.const 0))
        (block $wideDone (loop $wide
          (br_if $wideDone (i32.gt_u (i32.add (local.get $i) (i32.const 32)) (local.get $vecBytes)))
          (local.set $xAt (i32.add (local.get $x) (local.get $i)))
          (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (local.get $xAt)) (v128.load (i32.add (local.get $w0) (local.get $i))))))
          (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (v128.load offset=16 (local.get $xAt)) (v128.load offset=16 (i32.add (local.get $w0) (local.get $i))))))
          (local.set $i (i32.add (local.get $i) (i32.const 32)))
          (br $wide)))
        (call $store1 (local.get $y) (local.get $bias) (local.get $hasBias) (local.get $o)
          (call $rowSum (local.get $x) (local.get $w0) (local.get $a0) (local.get $c0) (local.get $i) (local.get $vecBytes) (local.get $rowBytes)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $rest)))
      (return)))

    ;; blocks of 4 outputs
    (block $blocksDone (loop $blocks
      (br_if $blocksDone (i32.gt_u (i32.add (local.get $o) (i32.const 4)) (local.get $o1)))
      (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $o) (local.get $rowBytes))))
      (local.set $w1 (i32.add (local.get $w0) (local.get $rowBytes)))
      (local.set $w2 (i32.add (local.get $w1) (local.get $rowBytes)))
      (local.set $w3 (i32.add (local.get $w2) (local.get $rowBytes)))
      (local.set $n (i32.const 0))
      (block $rowsDone (loop $eachRow
        (br_if $rowsDone (i32.ge_u (local.get $n) (local.get $rows)))
        (local.set $xRow (i32.add (local.get $x) (i32.mul (local.get $n) (local.get $rowBytes))))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0))
        (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $i (i32.const 0))
        (block $vecDone (loop $vec
          (br_if $vecDone (i32.ge_u (local.get $i) (local.get $vecBytes)))
          (local.set $xv (v128.load (i32.add (local.get $xRow) (local.get $i))))
          (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $xv) (v128.load (i32.add (local.get $w0) (local.get $i))))))
          (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $xv) (v128.load (i32.add (local.get $w1) (local.get $i))))))
          (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $xv) (v128.load (i32.add (local.get $w2) (local.get $i))))))
          (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $xv) (v128.load (i32.add (local.get $w3) (local.get $i))))))
          (local.set $i (i32.add (local.get $i) (i32.const 16)))
          (br $vec)))
        (call $store4 (i32.add (local.get $y) (i32.mul (local.get $n) (i32.shl (local.get $out) (i32.const 2))))
          (local.get $bias) (local.get $hasBias) (local.get $o)
          (f32x4.add (call $sum4 (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3))
            (call $tail4 (local.get $xRow) (local.get $w0) (local.get $rowBytes) (local.get $vecBytes))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $eachRow)))
      (local.set $o (i32.add (local.get $o) (i32.const 4)))
      (br $blocks)))

    ;; the last out % 4 outputs, one at a time
    (block $outputsDone (loop $outputs
      (br_if $outputsDone (i32.ge_u (local.get $o) (local.get $o1)))
      (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $o) (local.get $rowBytes))))
      (local.set $n (i32.const 0))
      (block $rowsDone (loop $eachRow
        (br_if $rowsDone (i32.ge_u (local.get $n) (local.get $rows)))
        (local.set $xRow (i32.add (local.get $x) (i32.mul (local.get $n) (local.get $rowBytes))))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $i (i32.const 0))
        (block $vecDone (loop $vec
          (br_if $vecDone (i32.ge_u (local.get $i) (local.get $vecBytes)))
          (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul
            (v128.load (i32.add (local.get $xRow) (local.get $i)))
            (v128.load (i32.add (local.get $w0) (local.get $i))))))
          (local.set $i (i32.add (local.get $i) (i32.const 16)))
          (br $vec)))
        (local.set $s (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $a0)) (f32x4.extract_lane 2 (local.get $a0)))
          (f32.add (f32x4.extract_lane 1 (local.get $a0)) (f32x4.extract_lane 3 (local.get $a0)))))
        (block $tailDone (loop $tail
          (br_if $tailDone (i32.ge_u (local.get $i) (local.get $rowBytes)))
          (local.set $s (f32.add (local.get $s) (f32.mul
            (f32.load (i32.add (local.get $xRow) (local.get $i)))
            (f32.load (i32.add (local.get $w0) (local.get $i))))))
          (local.set $i (i32.add (local.get $i) (i32.const 4)))
          (br $tail)))
        (if (local.get $hasBias) (then
          (local.set $s (f32.add (local.get $s)
            (f32.load (i32.add (local.get $bias) (i32.shl (local.get $o) (i32.const 2))))))))
        (f32.store
          (i32.add (local.get $y) (i32.shl (i32.add (i32.mul (local.get $n) (local.get $out)) (local.get $o)) (i32.const 2)))
          (local.get $s))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $eachRow)))
      (local.set $o (i32.add (local.get $o) (i32.const 1)))
      (br $outputs)))))
