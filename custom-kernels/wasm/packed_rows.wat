;; One row times a packed int8/int4 matrix (custom-kernels/packed_format.ts), for the wasm decoder
;; (src/model/wasm_decoder.ts), in place on tfjs-backend-wasm's memory (pointers are byte offsets):
;;   y[o] = bias[o] + sum_g scale[o, g] sum_{k in g} (c[o, k] - zero[o, g]) x[k]
;; W is read as its codes, 1/4 or 1/8 of float32's bytes: each int32 word is splatted to 4 lanes,
;; masked to one code a lane and converted, the lanes' place values undone by exact powers of two.
;; Zero is the stored float (asymmetric) or 2^(bits-1) (symmetric). Float32 accumulation, per group
;; and over groups. A row's last word may hold padding codes: its real codes go one at a time.
;; A call computes the outputs o0 <= o < o1, so that threads can share it (heap_pool.ts).
;; Assembled by scripts/build-wasm.mjs (npm run build:wasm) into packed_rows_wasm.ts.
(module
  (memory (import "env" "memory") 1)

  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  (func (export "packedRows")
    (param $x i32) (param $codes i32) (param $scale i32) (param $zero i32) (param $bias i32) (param $y i32)
    (param $in i32) (param $bits i32) (param $groupSize i32) (param $hasZero i32) (param $hasBias i32)
    (param $o0 i32) (param $o1 i32)
    (local $o i32) (local $g i32) (local $groups i32) (local $words i32) (local $perWord i32)
    (local $row i32) (local $k i32) (local $kEnd i32) (local $p i32) (local $w i32) (local $i i32) (local $wp i32) (local $wordsEnd i32)
    (local $z f32) (local $zv v128) (local $acc f32) (local $part f32) (local $accv v128) (local $wv v128)
    (local.set $perWord (i32.div_u (i32.const 32) (local.get $bits)))
    (local.set $words (i32.div_u (i32.add (local.get $in) (i32.sub (local.get $perWord) (i32.const 1))) (local.get $perWord)))
    (local.set $groups (i32.div_u (i32.add (local.get $in) (i32.sub (local.get $groupSize) (i32.const 1))) (local.get $groupSize)))
    (local.set $o (local.get $o0))
    (block $done (loop $output
      (br_if $done (i32.ge_u (local.get $o) (local.get $o1)))
      (local.set $row (i32.add (local.get $codes) (i32.shl (i32.mul (local.get $o) (local.get $words)) (i32.const 2))))
      (local.set $acc (f32.const 0))
      (local.set $g (i32.const 0))
      (block $groupsDone (loop $group
        (br_if $groupsDone (i32.ge_u (local.get $g) (local.get $groups)))
        (local.set $z (f32.convert_i32_u (i32.shl (i32.const 1) (i32.sub (local.get $bits) (i32.const 1)))))
        (if (local.get $hasZero) (then
          (local.set $z (f32.load (i32.add (local.get $zero)
            (i32.shl (i32.add (i32.mul (local.get $o) (local.get $groups)) (local.get $g)) (i32.const 2)))))))
        (local.set $zv (f32x4.splat (local.get $z)))
        (local.set $k (i32.mul (local.get $g) (local.get $groupSize)))
        (local.set $kEnd (i32.add (local.get $k) (local.get $groupSize)))
        (if (i32.gt_u (local.get $kEnd) (local.get $in)) (then (local.set $kEnd (local.get $in))))
        (local.set $accv (v128.const i32x4 0 0 0 0))
        (local.set $part (f32.const 0))
        ;; whole words, from the group's first (groups start on word boundaries)
        (local.set $wp (i32.add (local.get $row) (i32.shl (i32.div_u (local.get $k) (local.get $perWord)) (i32.const 2))))
        (local.set $p (i32.add (local.get $x) (i32.shl (local.get $k) (i32.const 2))))
        (local.set $wordsEnd (i32.add (local.get $k) (i32.mul (i32.div_u (i32.sub (local.get $kEnd) (local.get $k)) (local.get $perWord)) (local.get $perWord))))
        (if (i32.eq (local.get $bits) (i32.const 8))
          (then
            (block $done8 (loop $word8
              (br_if $done8 (i32.ge_u (local.get $k) (local.get $wordsEnd)))
              (local.set $wv (i32x4.splat (i32.load (local.get $wp))))
              (local.set $accv (f32x4.add (local.get $accv) (f32x4.mul (v128.load (local.get $p))
                (f32x4.sub
                  (f32x4.mul (f32x4.convert_i32x4_u (v128.and (local.get $wv) (v128.const i32x4 0xff 0xff00 0xff0000 0xff000000)))
                    (v128.const f32x4 1 0x1p-8 0x1p-16 0x1p-24))
                  (local.get $zv)))))
              (local.set $wp (i32.add (local.get $wp) (i32.const 4)))
              (local.set $p (i32.add (local.get $p) (i32.const 16)))
              (local.set $k (i32.add (local.get $k) (i32.const 4)))
              (br $word8))))
          (else
            (block $done4 (loop $word4
              (br_if $done4 (i32.ge_u (local.get $k) (local.get $wordsEnd)))
              (local.set $wv (i32x4.splat (i32.load (local.get $wp))))
              (local.set $accv (f32x4.add (local.get $accv) (f32x4.mul (v128.load (local.get $p))
                (f32x4.sub
                  (f32x4.mul (f32x4.convert_i32x4_u (v128.and (local.get $wv) (v128.const i32x4 0xf 0xf0 0xf00 0xf000)))
                    (v128.const f32x4 1 0x1p-4 0x1p-8 0x1p-12))
                  (local.get $zv)))))
              (local.set $accv (f32x4.add (local.get $accv) (f32x4.mul (v128.load offset=16 (local.get $p))
                (f32x4.sub
                  (f32x4.mul (f32x4.convert_i32x4_u (v128.and (local.get $wv) (v128.const i32x4 0xf0000 0xf00000 0xf000000 0xf0000000)))
                    (v128.const f32x4 0x1p-16 0x1p-20 0x1p-24 0x1p-28))
                  (local.get $zv)))))
              (local.set $wp (i32.add (local.get $wp) (i32.const 4)))
              (local.set $p (i32.add (local.get $p) (i32.const 32)))
              (local.set $k (i32.add (local.get $k) (i32.const 8)))
              (br $word4)))))
        ;; the codes of a last, partial word, one at a time
        (if (i32.lt_u (local.get $k) (local.get $kEnd)) (then
          (local.set $w (i32.load (local.get $wp)))
          (local.set $i (i32.const 0))
          (block $tailDone (loop $tail
            (br_if $tailDone (i32.ge_u (i32.add (local.get $k) (local.get $i)) (local.get $kEnd)))
            (local.set $part (f32.add (local.get $part) (f32.mul
              (f32.load (i32.add (local.get $x) (i32.shl (i32.add (local.get $k) (local.get $i)) (i32.const 2))))
              (f32.sub
                (f32.convert_i32_u (i32.and
                  (i32.shr_u (local.get $w) (i32.mul (local.get $i) (local.get $bits)))
                  (i32.sub (i32.shl (i32.const 1) (local.get $bits)) (i32.const 1))))
                (local.get $z)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $tail)))))
        (local.set $acc (f32.add (local.get $acc) (f32.mul
          (f32.load (i32.add (local.get $scale) (i32.shl (i32.add (i32.mul (local.get $o) (local.get $groups)) (local.get $g)) (i32.const 2))))
          (f32.add (call $hsum (local.get $accv)) (local.get $part)))))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $group)))
      (if (local.get $hasBias) (then
        (local.set $acc (f32.add (local.get $acc) (f32.load (i32.add (local.get $bias) (i32.shl (local.get $o) (i32.const 2))))))))
      (f32.store (i32.add (local.get $y) (i32.shl (local.get $o) (i32.const 2))) (local.get $acc))
      (local.set $o (i32.add (local.get $o) (i32.const 1)))
      (br $output))))
)
