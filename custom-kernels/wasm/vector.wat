;; Vector helpers our modules share (scripts/build-wasm.mjs puts this text into each module that
;; includes it, after its memory import): float32 math on 4 lanes (there is no exp or log in wasm),
;; and loads and stores of a row's last few floats.

  ;; Exponentials as math.ts's expf makes them: 2^k 2^f, k an integer, |f| <= 1/2, 2^f by the same
  ;; degree-6 minimax polynomial (constant term 1, so 2^0 = 1 exactly), here in float32.
  ;; Cheap forms for V8 on x64: pmin/pmax are one instruction each where min/max are about eight, and
  ;; k is rounded by adding 1.5 * 2^23, which leaves k + 0x4b400000 in the float's bits ("kMagic");
  ;; shifting those left by 23 drops the 0x4b4 (its low 9 bits are 0), so (bits + 127) << 23 is 2^k,
  ;; with no float-to-int conversion (also about eight instructions). The callers clamp k to
  ;; [-127, 128], so k + 127 stays in [0, 255]: results below ~2^-126.5 flush to 0, those above
  ;; ~2^127.5 (just under float32's max) become +Infinity. NaN stays NaN (pmax and pmin return their
  ;; first operand for it). The build script inlines $pow2 and $exp2 into their callers, as V8 in
  ;; Node 20 does not: the call in the recurrence's innermost loop cost a quarter of the scan's time.

  ;; 2^k 2^f, k in kMagic's bits as above
  (func $pow2 (param $kMagic v128) (param $f v128) (result v128)
    (f32x4.mul
      (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $f)
      (f32x4.add (v128.const f32x4 0.6931472028563427 0.6931472028563427 0.6931472028563427 0.6931472028563427) (f32x4.mul (local.get $f)
      (f32x4.add (v128.const f32x4 0.24022647913464104 0.24022647913464104 0.24022647913464104 0.24022647913464104) (f32x4.mul (local.get $f)
      (f32x4.add (v128.const f32x4 0.05550332468806104 0.05550332468806104 0.05550332468806104 0.05550332468806104) (f32x4.mul (local.get $f)
      (f32x4.add (v128.const f32x4 0.009618437368005139 0.009618437368005139 0.009618437368005139 0.009618437368005139) (f32x4.mul (local.get $f)
      (f32x4.add (v128.const f32x4 0.0013398875239880237 0.0013398875239880237 0.0013398875239880237 0.0013398875239880237) (f32x4.mul (local.get $f)
                 (v128.const f32x4 0.00015353360997082726 0.00015353360997082726 0.00015353360997082726 0.00015353360997082726)))))))))))))
      (i32x4.shl (i32x4.add (local.get $kMagic) (v128.const i32x4 127 127 127 127)) (i32.const 23))))

  ;; 2^x to about 1 ulp, for the recurrence, whose exponent comes as (dt log2 e) A: that rounding
  ;; adds |x| 2^-24 relative, no more than rounding dt A itself does.
  (func $exp2 (param $x v128) (result v128)
    (local $kMagic v128)
    (local.set $x (f32x4.pmin (f32x4.pmax (local.get $x) (v128.const f32x4 -127 -127 -127 -127)) (v128.const f32x4 128 128 128 128)))
    (local.set $kMagic (f32x4.add (local.get $x) (v128.const f32x4 12582912 12582912 12582912 12582912)))
    (call $pow2 (local.get $kMagic) (f32x4.sub (local.get $x) (f32x4.sub (local.get $kMagic) (v128.const f32x4 12582912 12582912 12582912 12582912)))))

  ;; e^x to about 1 ulp: f = (x - k ln2) log2 e with ln2 in two parts (k * 0.693359375 is exact), where
  ;; 2^(x log2 e) would add |x| 2^-24 relative error for the product's rounding.
  (func $exp (param $x v128) (result v128)
    (local $kMagic v128) (local $k v128)
    (local.set $x (f32x4.pmin (f32x4.pmax (local.get $x) (v128.const f32x4 -88.02969 -88.02969 -88.02969 -88.02969)) (v128.const f32x4 88.72284 88.72284 88.72284 88.72284)))
    (local.set $kMagic (f32x4.add (f32x4.mul (local.get $x) (v128.const f32x4 1.442695 1.442695 1.442695 1.442695)) (v128.const f32x4 12582912 12582912 12582912 12582912)))
    (local.set $k (f32x4.sub (local.get $kMagic) (v128.const f32x4 12582912 12582912 12582912 12582912)))
    (call $pow2 (local.get $kMagic)
      (f32x4.mul
        (f32x4.sub
          (f32x4.sub (local.get $x) (f32x4.mul (local.get $k) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375)))
          (f32x4.mul (local.get $k) (v128.const f32x4 -0.00021219444 -0.00021219444 -0.00021219444 -0.00021219444)))
        (v128.const f32x4 1.442695 1.442695 1.442695 1.442695))))

  ;; log(1 + y) for y >= 0 (wasm has no log): with w = 1 + y rounded, log w + (y - (w - 1)) / w, the
  ;; second term undoing w's rounding (it is all of the result when w rounds to 1). log w = e ln2 +
  ;; log m for w = 2^e m, m in [sqrt(1/2), sqrt(2)), and log m = 2 atanh(s), s = (m - 1) / (m + 1),
  ;; |s| < 0.172, by its series to s^9 (the next term is below 2e-8 relative).
  (func $log1p (param $y v128) (result v128)
    (local $w v128) (local $m v128) (local $e v128) (local $big v128) (local $s v128) (local $s2 v128)
    (local.set $w (f32x4.add (local.get $y) (v128.const f32x4 1 1 1 1)))
    ;; m in [1, 2) from w's mantissa bits, e its unbiased exponent
    (local.set $m
      (v128.or
        (v128.and (local.get $w) (v128.const i32x4 0x007fffff 0x007fffff 0x007fffff 0x007fffff))
        (v128.const i32x4 0x3f800000 0x3f800000 0x3f800000 0x3f800000)))
    (local.set $e
      (i32x4.sub (i32x4.shr_u (local.get $w) (i32.const 23)) (v128.const i32x4 127 127 127 127)))
    ;; m > sqrt(2): halve m, and e + 1 (the mask is -1 where true)
    (local.set $big (f32x4.gt (local.get $m) (v128.const f32x4 1.4142135 1.4142135 1.4142135 1.4142135)))
    (local.set $m
      (v128.bitselect
        (f32x4.mul (local.get $m) (v128.const f32x4 0.5 0.5 0.5 0.5)) (local.get $m) (local.get $big)))
    (local.set $e (f32x4.convert_i32x4_s (i32x4.sub (local.get $e) (local.get $big))))
    (local.set $s
      (f32x4.div
        (f32x4.sub (local.get $m) (v128.const f32x4 1 1 1 1))
        (f32x4.add (local.get $m) (v128.const f32x4 1 1 1 1))))
    (local.set $s2 (f32x4.mul (local.get $s) (local.get $s)))
    ;; e ln2_hi (exact) + (log m + e ln2_lo + the rounding correction)
    (f32x4.add
      (f32x4.mul (local.get $e) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))
      (f32x4.add
        (f32x4.add
          (f32x4.mul
            (f32x4.add (local.get $s) (local.get $s))
            (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $s2)
            (f32x4.add (v128.const f32x4 0.33333334 0.33333334 0.33333334 0.33333334) (f32x4.mul (local.get $s2)
            (f32x4.add (v128.const f32x4 0.2 0.2 0.2 0.2) (f32x4.mul (local.get $s2)
            (f32x4.add (v128.const f32x4 0.14285715 0.14285715 0.14285715 0.14285715) (f32x4.mul (local.get $s2)
                       (v128.const f32x4 0.11111111 0.11111111 0.11111111 0.11111111))))))))))
          (f32x4.mul (local.get $e) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4)))
        (f32x4.div
          (f32x4.sub (local.get $y) (f32x4.sub (local.get $w) (v128.const f32x4 1 1 1 1)))
          (local.get $w)))))

  ;; torch.nn.functional.softplus with its default threshold: x above 20 as is, else log1p(e^x)
  (func $softplus (param $x v128) (result v128)
    (v128.bitselect
      (local.get $x)
      (call $log1p (call $exp (local.get $x)))
      (f32x4.gt (local.get $x) (v128.const f32x4 20 20 20 20))))

  ;; silu(x) = x / (1 + e^-x)
  (func $silu (param $x v128) (result v128)
    (f32x4.div
      (local.get $x)
      (f32x4.add (v128.const f32x4 1 1 1 1) (call $exp (f32x4.neg (local.get $x))))))

  ;; min(n, 4) floats at p, in the low lanes. A row's last channels may not fill a vector, and a full
  ;; load past them could run off the end of memory.
  (func $load (param $p i32) (param $n i32) (result v128)
    (local $v v128)
    (if (i32.ge_u (local.get $n) (i32.const 4)) (then (return (v128.load (local.get $p)))))
    (local.set $v (v128.load32_zero (local.get $p)))
    (if (i32.ge_u (local.get $n) (i32.const 2))
      (then (local.set $v (f32x4.replace_lane 1 (local.get $v) (f32.load offset=4 (local.get $p))))))
    (if (i32.ge_u (local.get $n) (i32.const 3))
      (then (local.set $v (f32x4.replace_lane 2 (local.get $v) (f32.load offset=8 (local.get $p))))))
    (local.get $v))

  ;; The low min(n, 4) lanes of v to p (the rest would overwrite the next row's or another tensor's floats).
  (func $store (param $p i32) (param $v v128) (param $n i32)
    (if (i32.ge_u (local.get $n) (i32.const 4)) (then (v128.store (local.get $p) (local.get $v)) (return)))
    (f32.store (local.get $p) (f32x4.extract_lane 0 (local.get $v)))
    (if (i32.ge_u (local.get $n) (i32.const 2))
      (then (f32.store offset=4 (local.get $p) (f32x4.extract_lane 1 (local.get $v)))))
    (if (i32.ge_u (local.get $n) (i32.const 3))
      (then (f32.store offset=8 (local.get $p) (f32x4.extract_lane 2 (local.get $v))))))
