;; The residual and the RMSNorm between the layers of a decode step (src/model/wasm_decoder.ts), one
;; row, or of a prompt's rows (residualNormRows, src/model/wasm_prefill.ts), in place on tfjs-backend-wasm's memory (pointers are byte offsets into it):
;;   h = h + delta;   y = h rsqrt(mean(h^2) + eps) w
;; The sum of squares in float64 (as the row is short, for free), the rest in float32 as tfjs' ops
;; compute it. eps comes as its float32 bits: the thread pool passes integers.
;; Assembled by scripts/build-wasm.mjs (npm run build:wasm) into residual_norm_wasm.ts.
(module
  (memory (import "env" "memory") 1)

  (func $residualNorm (export "residualNorm")
    (param $h i32) (param $delta i32) (param $w i32) (param $y i32) (param $n i32) (param $epsBits i32)
    (local $i i32) (local $end i32) (local $v f32) (local $sum f64) (local $r f32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $addDone (loop $add
      (br_if $addDone (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $v (f32.add
        (f32.load (i32.add (local.get $h) (local.get $i)))
        (f32.load (i32.add (local.get $delta) (local.get $i)))))
      (f32.store (i32.add (local.get $h) (local.get $i)) (local.get $v))
      (local.set $sum (f64.add (local.get $sum) (f64.mul (f64.promote_f32 (local.get $v)) (f64.promote_f32 (local.get $v)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $add)))
    (local.set $r (f32.demote_f64 (f64.div (f64.const 1)
      (f64.sqrt (f64.add
        (f64.div (local.get $sum) (f64.convert_i32_u (local.get $n)))
        (f64.promote_f32 (f32.reinterpret_i32 (local.get $epsBits))))))))
    (local.set $i (i32.const 0))
    (block $scaleDone (loop $scale
      (br_if $scaleDone (i32.ge_u (local.get $i) (local.get $end)))
      (f32.store (i32.add (local.get $y) (local.get $i))
        (f32.mul
          (f32.mul (f32.load (i32.add (local.get $h) (local.get $i))) (local.get $r))
          (f32.load (i32.add (local.get $w) (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $scale))))

  ;; The same for the rows r0 <= r < r1 of h, delta and y ([rows, n]), as a prompt's prefill runs it
  ;; (src/model/wasm_decoder.ts), so that threads can share the rows.
  (func (export "residualNormRows")
    (param $h i32) (param $delta i32) (param $w i32) (param $y i32) (param $n i32) (param $epsBits i32)
    (param $r0 i32) (param $r1 i32)
    (local $at i32)
    (block $done (loop $row
      (br_if $done (i32.ge_u (local.get $r0) (local.get $r1)))
      (local.set $at (i32.mul (local.get $r0) (i32.shl (local.get $n) (i32.const 2))))
      (call $residualNorm (i32.add (local.get $h) (local.get $at)) (i32.add (local.get $delta) (local.get $at))
        (local.get $w) (i32.add (local.get $y) (local.get $at)) (local.get $n) (local.get $epsBits))
      (local.set $r0 (i32.add (local.get $r0) (i32.const 1)))
      (br $row))))
)
