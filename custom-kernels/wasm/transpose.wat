;; A batch of matrices transposed (tfjs' Transpose for the permutations [1, 0] and [0, 2, 1]) in
;; WebAssembly SIMD, run in place on tfjs-backend-wasm's memory (pointers are byte offsets into it):
;;   y[b, c, r] = x[b, r, c]      x [batch, rows, cols], y [batch, cols, rows]
;; 4 x 4 tiles: four rows of x read as vectors, turned in registers by shuffles, written as four rows
;; of y; the last rows and columns that do not fill a tile one float at a time. tfjs-backend-wasm
;; 4.22's own kernel moves one element at a time through index arithmetic, about 6 ns a float here.
;; A call moves the rows r0 <= r < r1 of x (multiples of 4 keep every tile whole), so that threads
;; can share a transpose (heap_pool.ts). Assembled by scripts/build-wasm.mjs into transpose_wasm.ts.
(module
  (memory (import "env" "memory") 1)

  ;; The rows r0 <= r < r1 of one matrix (x and y at its first float), one float at a time, every column from c0.
  (func $scalar (param $x i32) (param $y i32) (param $rows i32) (param $cols i32)
                (param $r0 i32) (param $r1 i32) (param $c0 i32)
    (local $r i32) (local $c i32)
    (local.set $r (local.get $r0))
    (block $done (loop $row
      (br_if $done (i32.ge_u (local.get $r) (local.get $r1)))
      (local.set $c (local.get $c0))
      (block $rowDone (loop $col
        (br_if $rowDone (i32.ge_u (local.get $c) (local.get $cols)))
        (f32.store
          (i32.add (local.get $y) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $rows)) (local.get $r)) (i32.const 2)))
          (f32.load (i32.add (local.get $x) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $cols)) (local.get $c)) (i32.const 2)))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $col)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $row))))

  (func (export "transpose")
    (param $x i32) (param $y i32) (param $batch i32) (param $rows i32) (param $cols i32)
    (param $r0 i32) (param $r1 i32)
    (local $b i32) (local $r i32) (local $c i32) (local $p i32) (local $q i32)
    (local $xRowBytes i32) (local $yRowBytes i32) (local $matrixBytes i32) (local $tileRowsEnd i32) (local $tileColsEnd i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $xRowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $yRowBytes (i32.shl (local.get $rows) (i32.const 2)))
    (local.set $matrixBytes (i32.mul (local.get $xRowBytes) (local.get $rows)))
    (local.set $tileRowsEnd (i32.add (local.get $r0) (i32.and (i32.sub (local.get $r1) (local.get $r0)) (i32.const -4))))
    (local.set $tileColsEnd (i32.and (local.get $cols) (i32.const -4)))
    (block $batchDone (loop $matrix
      (br_if $batchDone (i32.ge_u (local.get $b) (local.get $batch)))
      (local.set $r (local.get $r0))
      (block $tilesDone (loop $tileRow
        (br_if $tilesDone (i32.ge_u (local.get $r) (local.get $tileRowsEnd)))
        (local.set $c (i32.const 0))
        (block $rowDone (loop $tile
          (br_if $rowDone (i32.ge_u (local.get $c) (local.get $tileColsEnd)))
          ;; x[r..r+3, c..c+3] as four vectors, one a row
          (local.set $p (i32.add (local.get $x) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $cols)) (local.get $c)) (i32.const 2))))
          (local.set $a0 (v128.load (local.get $p)))
          (local.set $a1 (v128.load (local.tee $p (i32.add (local.get $p) (local.get $xRowBytes)))))
          (local.set $a2 (v128.load (local.tee $p (i32.add (local.get $p) (local.get $xRowBytes)))))
          (local.set $a3 (v128.load (i32.add (local.get $p) (local.get $xRowBytes))))
          ;; interleave pairs of rows: t0 = a0.0 a1.0 a0.1 a1.1, t1 = a0.2 a1.2 a0.3 a1.3, t2 and t3 the same of a2, a3
          (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a0) (local.get $a1)))
          (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a0) (local.get $a1)))
          (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a2) (local.get $a3)))
          (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a2) (local.get $a3)))
          ;; then halves of those: column c of the tile is t0's low half and t2's, column c+1 their high halves, ...
          (local.set $q (i32.add (local.get $y) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $rows)) (local.get $r)) (i32.const 2))))
          (v128.store (local.get $q) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
          (v128.store (local.tee $q (i32.add (local.get $q) (local.get $yRowBytes)))
            (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
          (v128.store (local.tee $q (i32.add (local.get $q) (local.get $yRowBytes)))
            (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
          (v128.store (i32.add (local.get $q) (local.get $yRowBytes))
            (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br $tile)))
        ;; the columns past the last whole tile, of these four rows
        (call $scalar (local.get $x) (local.get $y) (local.get $rows) (local.get $cols)
          (local.get $r) (i32.add (local.get $r) (i32.const 4)) (local.get $tileColsEnd))
        (local.set $r (i32.add (local.get $r) (i32.const 4)))
        (br $tileRow)))
      ;; the rows past the last whole tile
      (call $scalar (local.get $x) (local.get $y) (local.get $rows) (local.get $cols)
        (local.get $tileRowsEnd) (local.get $r1) (i32.const 0))
      (local.set $x (i32.add (local.get $x) (local.get $matrixBytes)))
      (local.set $y (i32.add (local.get $y) (local.get $matrixBytes)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $matrix)))))
