;; The selective scan's forward pass (kernel contract: custom-kernels/kernel_names.ts) in WebAssembly SIMD,
;; run in place on tfjs-backend-wasm's memory: every pointer is a byte offset into the imported memory,
;; where tfjs keeps the tensors. Same math and layout as custom-kernels/shared/selective_scan.ts, but
;; the state is float32 (the contract's minimum) so that 4 states fit a vector. dState must be a
;; nonzero multiple of 4: the caller (simd_module.ts) runs the JS kernel otherwise.
;; Assembled by scripts/build-wasm.mjs (npm run build:wasm) into selective_scan_wasm.ts.
;;
;; Three passes, so that the once-per-(t, d) work (softplus, D skip, silu gate) runs 4 channels to a
;; vector along a row, and the hot loop is only the per-(t, d, n) recurrence:
;;   1. y = dt = softplus?(delta + deltaBias)       (y doubles as dt's scratch: same shape, read just
;;                                                   before the recurrence overwrites it)
;;   2. h = exp(dt A) h + dt u B;  y = <h, C>       4 states to a vector; h lives in lastState
;;   3. y = (y + D u) silu(z)
(module
  (memory (import "env" "memory") 1)

  ;; bits of the flags argument
  (global $SOFTPLUS i32 (i32.const 1))
  (global $HAS_D i32 (i32.const 2))
  (global $HAS_Z i32 (i32.const 4))
  (global $HAS_BIAS i32 (i32.const 8))
  (global $HAS_H0 i32 (i32.const 16))

  ;; Channels the recurrence scans side by side, as the JS kernel does: per time step a block reads
  ;; whole cache lines of u and y rather than one float per line (stride dInner).
  (global $BLOCK i32 (i32.const 16))

  ;; Pass 1: y = softplus?(delta + deltaBias), for rows (batch * seq) of dInner channels.
  (func $deltaPass (param $delta i32) (param $bias i32) (param $y i32)
                   (param $rows i32) (param $dInner i32) (param $c0 i32) (param $c1 i32) (param $flags i32)
    (local $r i32) (local $d i32) (local $n i32) (local $off i32) (local $v v128)
    (block $done (loop $row
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $d (local.get $c0))
      (block $rowDone (loop $vec
        (br_if $rowDone (i32.ge_u (local.get $d) (local.get $c1)))
        (local.set $n (i32.sub (local.get $c1) (local.get $d)))
        (local.set $off (i32.shl (i32.add (i32.mul (local.get $r) (local.get $dInner)) (local.get $d)) (i32.const 2)))
        (local.set $v (call $load (i32.add (local.get $delta) (local.get $off)) (local.get $n)))
        (if (i32.and (local.get $flags) (global.get $HAS_BIAS))
          (then (local.set $v (f32x4.add (local.get $v)
            (call $load (i32.add (local.get $bias) (i32.shl (local.get $d) (i32.const 2))) (local.get $n))))))
        (if (i32.and (local.get $flags) (global.get $SOFTPLUS))
          (then (local.set $v (call $softplus (local.get $v)))))
        (call $store (i32.add (local.get $y) (local.get $off)) (local.get $v) (local.get $n))
        (local.set $d (i32.add (local.get $d) (i32.const 4)))
        (br $vec)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $row))))

  ;; Pass 3: y = (y + D u) silu(z), for rows of dInner channels, each part when its input is present.
  (func $outputPass (param $u i32) (param $D i32) (param $z i32) (param $y i32)
                    (param $rows i32) (param $dInner i32) (param $c0 i32) (param $c1 i32) (param $flags i32)
    (local $r i32) (local $d i32) (local $n i32) (local $off i32) (local $v v128)
    (block $done (loop $row
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $d (local.get $c0))
      (block $rowDone (loop $vec
        (br_if $rowDone (i32.ge_u (local.get $d) (local.get $c1)))
        (local.set $n (i32.sub (local.get $c1) (local.get $d)))
        (local.set $off (i32.shl (i32.add (i32.mul (local.get $r) (local.get $dInner)) (local.get $d)) (i32.const 2)))
        (local.set $v (call $load (i32.add (local.get $y) (local.get $off)) (local.get $n)))
        (if (i32.and (local.get $flags) (global.get $HAS_D))
          (then (local.set $v (f32x4.add (local.get $v) (f32x4.mul
            (call $load (i32.add (local.get $D) (i32.shl (local.get $d) (i32.const 2))) (local.get $n))
            (call $load (i32.add (local.get $u) (local.get $off)) (local.get $n)))))))
        (if (i32.and (local.get $flags) (global.get $HAS_Z))
          (then (local.set $v (f32x4.mul (local.get $v)
            (call $silu (call $load (i32.add (local.get $z) (local.get $off)) (local.get $n)))))))
        (call $store (i32.add (local.get $y) (local.get $off)) (local.get $v) (local.get $n))
        (local.set $d (i32.add (local.get $d) (i32.const 4)))
        (br $vec)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $row))))

  ;; Pass 2, the recurrence: y holds dt on entry and <h_t, C_t> on return; lastState the last h.
  (func $recurrence (param $u i32) (param $A i32) (param $B i32) (param $C i32) (param $h0 i32)
                    (param $y i32) (param $last i32)
                    (param $batch i32) (param $seq i32) (param $dInner i32) (param $dState i32) (param $c0 i32) (param $c1 i32) (param $flags i32)
    (local $b i32) (local $d0 i32) (local $dEnd i32) (local $t i32) (local $d i32) (local $o i32)
    (local $stateBytes i32) (local $batchStateBytes i32) (local $hBatch i32)
    (local $row i32) (local $pB i32) (local $pC i32) (local $pA i32) (local $pH i32) (local $i i32)
    (local $dt f32) (local $dtLog2e v128) (local $dtu v128) (local $h v128) (local $acc v128)
    (local.set $stateBytes (i32.shl (local.get $dState) (i32.const 2)))
    (local.set $batchStateBytes (i32.mul (local.get $dInner) (local.get $stateBytes)))
    (block $batchesDone (loop $batch
      (br_if $batchesDone (i32.ge_u (local.get $b) (local.get $batch)))
      (local.set $hBatch (i32.add (local.get $last) (i32.mul (local.get $b) (local.get $batchStateBytes))))
      ;; this call's channels of the state: from c0, (c1 - c0) rows of dState
      (local.set $o (i32.add (i32.mul (local.get $b) (local.get $batchStateBytes)) (i32.mul (local.get $c0) (local.get $stateBytes))))
      (if (i32.and (local.get $flags) (global.get $HAS_H0))
        (then (memory.copy (i32.add (local.get $last) (local.get $o)) (i32.add (local.get $h0) (local.get $o))
          (i32.mul (i32.sub (local.get $c1) (local.get $c0)) (local.get $stateBytes))))
        (else (memory.fill (i32.add (local.get $last) (local.get $o)) (i32.const 0)
          (i32.mul (i32.sub (local.get $c1) (local.get $c0)) (local.get $stateBytes)))))
      (local.set $d0 (local.get $c0))
      (block $blocksDone (loop $block
        (br_if $blocksDone (i32.ge_u (local.get $d0) (local.get $c1)))
        (local.set $dEnd (i32.add (local.get $d0) (global.get $BLOCK)))
        (if (i32.gt_u (local.get $dEnd) (local.get $c1)) (then (local.set $dEnd (local.get $c1))))
        (local.set $t (i32.const 0))
        (block $stepsDone (loop $step
          (br_if $stepsDone (i32.ge_u (local.get $t) (local.get $seq)))
          (local.set $row (i32.add (i32.mul (local.get $b) (local.get $seq)) (local.get $t)))
          (local.set $pB (i32.add (local.get $B) (i32.mul (local.get $row) (local.get $stateBytes))))
          (local.set $pC (i32.add (local.get $C) (i32.mul (local.get $row) (local.get $stateBytes))))
          (local.set $i (i32.shl (i32.add (i32.mul (local.get $row) (local.get $dInner)) (local.get $d0)) (i32.const 2)))
          (local.set $d (local.get $d0))
          (loop $channel
            (local.set $dt (f32.load (i32.add (local.get $y) (local.get $i))))
            (local.set $dtLog2e (f32x4.splat (f32.mul (local.get $dt) (f32.const 1.442695))))
            (local.set $dtu (f32x4.splat (f32.mul (local.get $dt) (f32.load (i32.add (local.get $u) (local.get $i))))))
            (local.set $pA (i32.add (local.get $A) (i32.mul (local.get $d) (local.get $stateBytes))))
            (local.set $pH (i32.add (local.get $hBatch) (i32.mul (local.get $d) (local.get $stateBytes))))
            (local.set $acc (v128.const i32x4 0 0 0 0))
            (local.set $o (i32.const 0))
            (loop $states
              (local.set $h
                (f32x4.add
                  (f32x4.mul
                    (call $exp2 (f32x4.mul (local.get $dtLog2e) (v128.load (i32.add (local.get $pA) (local.get $o)))))
                    (v128.load (i32.add (local.get $pH) (local.get $o))))
                  (f32x4.mul (local.get $dtu) (v128.load (i32.add (local.get $pB) (local.get $o))))))
              (v128.store (i32.add (local.get $pH) (local.get $o)) (local.get $h))
              (local.set $acc (f32x4.add (local.get $acc)
                (f32x4.mul (local.get $h) (v128.load (i32.add (local.get $pC) (local.get $o))))))
              (local.set $o (i32.add (local.get $o) (i32.const 16)))
              (br_if $states (i32.lt_u (local.get $o) (local.get $stateBytes))))
            (f32.store (i32.add (local.get $y) (local.get $i))
              (f32.add
                (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
                (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (local.set $d (i32.add (local.get $d) (i32.const 1)))
            (br_if $channel (i32.lt_u (local.get $d) (local.get $dEnd))))
          (local.set $t (i32.add (local.get $t) (i32.const 1)))
          (br $step)))
        (local.set $d0 (local.get $dEnd))
        (br $block)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $batch))))

  ;; The whole forward scan. Pointers: u, delta [batch, seq, dInner]; A [dInner, dState]; B, C
  ;; [batch, seq, dState]; D, deltaBias [dInner]; z [batch, seq, dInner]; h0, last [batch, dInner,
  ;; dState]; y [batch, seq, dInner]. The absent optional inputs are the flags' clear bits. A call scans
  ;; the channels c0 <= d < c1 (of every row, of the state), so that threads can share a scan
  ;; (heap_pool.ts): channels are independent, and each is computed as it is unsplit.
  (func (export "scan")
    (param $u i32) (param $delta i32) (param $A i32) (param $B i32) (param $C i32)
    (param $D i32) (param $z i32) (param $bias i32) (param $h0 i32) (param $y i32) (param $last i32)
    (param $batch i32) (param $seq i32) (param $dInner i32) (param $dState i32) (param $flags i32)
    (param $c0 i32) (param $c1 i32)
    (call $deltaPass (local.get $delta) (local.get $bias) (local.get $y)
      (i32.mul (local.get $batch) (local.get $seq)) (local.get $dInner) (local.get $c0) (local.get $c1) (local.get $flags))
    (call $recurrence (local.get $u) (local.get $A) (local.get $B) (local.get $C) (local.get $h0)
      (local.get $y) (local.get $last)
      (local.get $batch) (local.get $seq) (local.get $dInner) (local.get $dState) (local.get $c0) (local.get $c1) (local.get $flags))
    (if (i32.and (local.get $flags) (i32.or (global.get $HAS_D) (global.get $HAS_Z)))
      (then (call $outputPass (local.get $u) (local.get $D) (local.get $z) (local.get $y)
        (i32.mul (local.get $batch) (local.get $seq)) (local.get $dInner) (local.get $c0) (local.get $c1) (local.get $flags))))))
