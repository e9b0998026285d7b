;; The causal depthwise conv (kernel contract CausalConv1d: custom-kernels/kernel_names.ts) in
;; WebAssembly SIMD, run in place on tfjs-backend-wasm's memory (pointers are byte offsets into it),
;; for conv kernels of up to 4 taps (Mamba's d_conv is 4; the caller runs the JS kernel otherwise):
;;   y[b, t, d] = act(bias[d] + sum_k weight[d, k] x[b, t - K + 1 + k, d])    x, y [batch, seq, dInner]
;; 4 channels to a vector. For each block of channels the taps are read once into registers (tap j
;; of 4 weighs x[t - 3 + j]; with K < 4 the first 4 - K are zero) and a window of the last 3 inputs
;; slides along the sequence, so each input is read once. Float32 accumulation, the taps in order.
;; A call convolves the channels c0 <= d < c1, so that threads can share it (heap_pool.ts).
;; convStep is one decoding step of the same conv (src/model/wasm_decoder.ts).
;; Assembled by scripts/build-wasm.mjs (with vector.wat) into causal_conv1d_wasm.ts.
(module
  (memory (import "env" "memory") 1)

  ;; flags: bit 0 a bias, bit 1 silu after the conv
  (global $HAS_BIAS i32 (i32.const 1))
  (global $SILU i32 (i32.const 2))

  ;; Tap j of the 4-tap window for the channels d.. (n of them), weight [dInner, K]: zero for j < 4 - K.
  (func $tap (param $w i32) (param $d i32) (param $n i32) (param $K i32) (param $j i32) (result v128)
    (local $k i32) (local $v v128) (local $i i32)
    (local.set $k (i32.sub (local.get $j) (i32.sub (i32.const 4) (local.get $K))))
    (if (i32.lt_s (local.get $k) (i32.const 0)) (then (return (v128.const i32x4 0 0 0 0))))
    (local.set $i (i32.shl (i32.add (i32.mul (local.get $d) (local.get $K)) (local.get $k)) (i32.const 2)))
    (local.set $v (f32x4.splat (f32.load (i32.add (local.get $w) (local.get $i)))))
    (local.set $i (i32.add (local.get $i) (i32.shl (local.get $K) (i32.const 2))))
    (if (i32.ge_u (local.get $n) (i32.const 2))
      (then (local.set $v (f32x4.replace_lane 1 (local.get $v) (f32.load (i32.add (local.get $w) (local.get $i)))))))
    (local.set $i (i32.add (local.get $i) (i32.shl (local.get $K) (i32.const 2))))
    (if (i32.ge_u (local.get $n) (i32.const 3))
      (then (local.set $v (f32x4.replace_lane 2 (local.get $v) (f32.load (i32.add (local.get $w) (local.get $i)))))))
    (local.set $i (i32.add (local.get $i) (i32.shl (local.get $K) (i32.const 2))))
    (if (i32.ge_u (local.get $n) (i32.const 4))
      (then (local.set $v (f32x4.replace_lane 3 (local.get $v) (f32.load (i32.add (local.get $w) (local.get $i)))))))
    (local.get $v))

  (func (export "conv")
    (param $x i32) (param $w i32) (param $bias i32) (param $y i32)
    (param $batch i32) (param $seq i32) (param $dInner i32) (param $K i32) (param $flags i32)
    (param $c0 i32) (param $c1 i32)
    (local $b i32) (local $d i32) (local $n i32) (local $t i32) (local $off i32) (local $rowBytes i32)
    (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128) (local $bv v128)
    (local $x3 v128) (local $x2 v128) (local $x1 v128) (local $xt v128) (local $acc v128)
    (local.set $rowBytes (i32.shl (local.get $dInner) (i32.const 2)))
    (block $batchDone (loop $eachBatch
      (br_if $batchDone (i32.ge_u (local.get $b) (local.get $batch)))
      (local.set $d (local.get $c0))
      (block $channelsDone (loop $block
        (br_if $channelsDone (i32.ge_u (local.get $d) (local.get $c1)))
        (local.set $n (i32.sub (local.get $c1) (local.get $d)))
        (local.set $w0 (call $tap (local.get $w) (local.get $d) (local.get $n) (local.get $K) (i32.const 0)))
        (local.set $w1 (call $tap (local.get $w) (local.get $d) (local.get $n) (local.get $K) (i32.const 1)))
        (local.set $w2 (call $tap (local.get $w) (local.get $d) (local.get $n) (local.get $K) (i32.const 2)))
        (local.set $w3 (call $tap (local.get $w) (local.get $d) (local.get $n) (local.get $K) (i32.const 3)))
        (local.set $bv (v128.const i32x4 0 0 0 0))
        (if (i32.and (local.get $flags) (global.get $HAS_BIAS))
          (then (local.set $bv (call $load (i32.add (local.get $bias) (i32.shl (local.get $d) (i32.const 2))) (local.get $n)))))
        ;; the inputs before the sequence starts are zero
        (local.set $x3 (v128.const i32x4 0 0 0 0))
        (local.set $x2 (v128.const i32x4 0 0 0 0))
        (local.set $x1 (v128.const i32x4 0 0 0 0))
        (local.set $off (i32.shl (i32.add (i32.mul (i32.mul (local.get $b) (local.get $seq)) (local.get $dInner)) (local.get $d)) (i32.const 2)))
        (local.set $t (i32.const 0))
        (block $stepsDone (loop $step
          (br_if $stepsDone (i32.ge_u (local.get $t) (local.get $seq)))
          (local.set $xt (call $load (i32.add (local.get $x) (local.get $off)) (local.get $n)))
          (local.set $acc (f32x4.add (f32x4.add (f32x4.add (f32x4.add (local.get $bv)
            (f32x4.mul (local.get $w0) (local.get $x3)))
            (f32x4.mul (local.get $w1) (local.get $x2)))
            (f32x4.mul (local.get $w2) (local.get $x1)))
            (f32x4.mul (local.get $w3) (local.get $xt))))
          (if (i32.and (local.get $flags) (global.get $SILU))
            (then (local.set $acc (call $silu (local.get $acc)))))
          (call $store (i32.add (local.get $y) (local.get $off)) (local.get $acc) (local.get $n))
          (local.set $x3 (local.get $x2))
          (local.set $x2 (local.get $x1))
          (local.set $x1 (local.get $xt))
          (local.set $off (i32.add (local.get $off) (local.get $rowBytes)))
          (local.set $t (i32.add (local.get $t) (i32.const 1)))
          (br $step)))
        (local.set $d (i32.add (local.get $d) (i32.const 4)))
        (br $block)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $eachBatch))))
  ;; One decoding step of the conv for the channels c0 <= d < c1 of one row, state [dInner, K] (HF's
  ;; conv_state, oldest first) updated in place: the window shifts left by one and takes x[d];
  ;; y[d] = act(bias[d] + sum_k weight[d, k] state[d, k]), float32, the taps in order.
  (func (export "convStep")
    (param $state i32) (param $x i32) (param $w i32) (param $bias i32) (param $y i32)
    (param $K i32) (param $flags i32) (param $c0 i32) (param $c1 i32)
    (local $d i32) (local $k i32) (local $s i32) (local $wd i32) (local $acc f32) (local $v f32)
    (local.set $d (local.get $c0))
    (block $done (loop $channel
      (br_if $done (i32.ge_u (local.get $d) (local.get $c1)))
      (local.set $s (i32.add (local.get $state) (i32.shl (i32.mul (local.get $d) (local.get $K)) (i32.const 2))))
      (local.set $wd (i32.add (local.get $w) (i32.shl (i32.mul (local.get $d) (local.get $K)) (i32.const 2))))
      (local.set $acc (f32.const 0))
      (if (i32.and (local.get $flags) (global.get $HAS_BIAS))
        (then (local.set $acc (f32.load (i32.add (local.get $bias) (i32.shl (local.get $d) (i32.const 2)))))))
      (local.set $k (i32.const 0))
      (block $tapsDone (loop $tap
        (br_if $tapsDone (i32.ge_u (local.get $k) (i32.sub (local.get $K) (i32.const 1))))
        (local.set $v (f32.load offset=4 (local.get $s)))
        (f32.store (local.get $s) (local.get $v))
        (local.set $acc (f32.add (local.get $acc) (f32.mul (f32.load (local.get $wd)) (local.get $v))))
        (local.set $s (i32.add (local.get $s) (i32.const 4)))
        (local.set $wd (i32.add (local.get $wd) (i32.const 4)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $tap)))
      (local.set $v (f32.load (i32.add (local.get $x) (i32.shl (local.get $d) (i32.const 2)))))
      (f32.store (local.get $s) (local.get $v))
      (local.set $acc (f32.add (local.get $acc) (f32.mul (f32.load (local.get $wd)) (local.get $v))))
      (if (i32.and (local.get $flags) (global.get $SILU))
        (then (local.set $acc (f32x4.extract_lane 0 (call $silu (f32x4.splat (local.get $acc)))))))
      (f32.store (i32.add (local.get $y) (i32.shl (local.get $d) (i32.const 2))) (local.get $acc))
      (local.set $d (i32.add (local.get $d) (i32.const 1)))
      (br $channel)))))
