;; The scanner blur's [w, 1 - 2w, w] passes in WebAssembly SIMD (src/synth/blur.ts loads the
;; compiled blur.wasm; `npm run build:kernels` makes it from this file), with the bits of its
;; plain-loop definition (blur-reference.ts): each value computed in double precision as
;; w (a + b) + c0 x from float32 inputs and rounded to float32 once (f32.demote_f64 rounds to
;; nearest even, as a Float32Array store does), two values per vector.
;;
;; Images are side x side pixels of n interleaved float32 channels; a pixel's neighbour across is
;; n values away, down side * n; at the border the pixel stands in for its missing neighbour.

(module
  (memory (export "memory") 1)

  ;; w (a + b) + c0 x for the float32 values at each address, in double, rounded once (the
  ;; loops below do the same two values at a time, written out).
  (func $one (param $a i32) (param $b i32) (param $x i32) (param $w f64) (param $c0 f64) (result f32)
    (f32.demote_f64 (f64.add
      (f64.mul (local.get $w) (f64.add (f64.promote_f32 (f32.load (local.get $a))) (f64.promote_f32 (f32.load (local.get $b)))))
      (f64.mul (local.get $c0) (f64.promote_f32 (f32.load (local.get $x)))))))

  ;; One pass across (px to tmp) then down (tmp to px). (side * n - 2n) must be even.
  (func (export "blur") (param $px i32) (param $tmp i32) (param $side i32) (param $n i32) (param $w f64) (param $c0 f64)
    (local $row i32) (local $y i32) (local $o i32) (local $k i32) (local $end i32) (local $step i32)
    (local $wv v128) (local $cv v128) (local $up i32) (local $down i32)
    (local.set $wv (f64x2.splat (local.get $w)))
    (local.set $cv (f64x2.splat (local.get $c0)))
    (local.set $row (i32.shl (i32.mul (local.get $side) (local.get $n)) (i32.const 2))) ;; bytes
    (local.set $step (i32.shl (local.get $n) (i32.const 2)))
    ;; Across.
    (local.set $y (i32.const 0))
    (block $acrossDone (loop $across
      (br_if $acrossDone (i32.ge_u (local.get $y) (local.get $side)))
      (local.set $o (i32.mul (local.get $y) (local.get $row)))
      ;; The first pixel: its own value for the missing left neighbour.
      (local.set $k (local.get $o))
      (local.set $end (i32.add (local.get $o) (local.get $step)))
      (block $firstDone (loop $first
        (br_if $firstDone (i32.ge_u (local.get $k) (local.get $end)))
        (f32.store (i32.add (local.get $tmp) (local.get $k)) (call $one
          (i32.add (local.get $px) (local.get $k)) (i32.add (i32.add (local.get $px) (local.get $k)) (local.get $step)) (i32.add (local.get $px) (local.get $k)) (local.get $w) (local.get $c0)))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (br $first)))
      ;; The middle, two values at a time.
      (local.set $end (i32.sub (i32.add (local.get $o) (local.get $row)) (local.get $step)))
      (block $midDone (loop $mid
        (br_if $midDone (i32.ge_u (local.get $k) (local.get $end)))
        (v128.store64_lane 0 (i32.add (local.get $tmp) (local.get $k)) (f32x4.demote_f64x2_zero (f64x2.add
          (f64x2.mul (local.get $wv) (f64x2.add
            (f64x2.promote_low_f32x4 (v128.load64_zero (i32.sub (i32.add (local.get $px) (local.get $k)) (local.get $step))))
            (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (i32.add (local.get $px) (local.get $k)) (local.get $step))))))
          (f64x2.mul (local.get $cv) (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $px) (local.get $k))))))))
        (local.set $k (i32.add (local.get $k) (i32.const 8)))
        (br $mid)))
      ;; The last pixel: its own value for the missing right neighbour.
      (local.set $end (i32.add (local.get $o) (local.get $row)))
      (block $lastDone (loop $last
        (br_if $lastDone (i32.ge_u (local.get $k) (local.get $end)))
        (f32.store (i32.add (local.get $tmp) (local.get $k)) (call $one
          (i32.sub (i32.add (local.get $px) (local.get $k)) (local.get $step)) (i32.add (local.get $px) (local.get $k)) (i32.add (local.get $px) (local.get $k)) (local.get $w) (local.get $c0)))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (br $last)))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $across)))
    ;; Down: the row above and below, the row itself at the top and bottom.
    (local.set $y (i32.const 0))
    (block $downDone (loop $downRows
      (br_if $downDone (i32.ge_u (local.get $y) (local.get $side)))
      (local.set $o (i32.mul (local.get $y) (local.get $row)))
      (local.set $up (select (i32.sub (i32.const 0) (local.get $row)) (i32.const 0) (i32.gt_u (local.get $y) (i32.const 0))))
      (local.set $down (select (local.get $row) (i32.const 0) (i32.lt_u (local.get $y) (i32.sub (local.get $side) (i32.const 1)))))
      (local.set $k (local.get $o))
      (local.set $end (i32.add (local.get $o) (local.get $row)))
      (block $rowDone (loop $values
        (br_if $rowDone (i32.ge_u (local.get $k) (local.get $end)))
        (v128.store64_lane 0 (i32.add (local.get $px) (local.get $k)) (f32x4.demote_f64x2_zero (f64x2.add
          (f64x2.mul (local.get $wv) (f64x2.add
            (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (i32.add (local.get $tmp) (local.get $k)) (local.get $up))))
            (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (i32.add (local.get $tmp) (local.get $k)) (local.get $down))))))
          (f64x2.mul (local.get $cv) (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $tmp) (local.get $k))))))))
        (local.set $k (i32.add (local.get $k) (i32.const 8)))
        (br $values)))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $downRows))))
)
