;; The learned refiner's convolutions in WebAssembly SIMD (src/synth/refiner.ts loads the
;; compiled refiner.wasm; `npm run build:kernels` makes it from this file).
;;
;; Why WebAssembly: float32 arithmetic here is IEEE single precision with no fused multiply-add
;; and a fixed order of operations, so a tile's bytes are the same on every machine (the
;; generator promises that for a seed); and SIMD makes the 5,100 multiply-adds per pixel cheap
;; enough to run on every tile.
;;
;; Layouts: images are height x width x channels, float32, rows packed; a 3x3 kernel is
;; [3][3][cin][16] (tfjs's HWIO, as refiner.json stores it), a 1x1 [16][3]. Every sum starts at
;; the bias and adds the products in kernel order (row, column, input channel), each product
;; rounded to float32 before it is added: src/synth/refiner-reference.ts is the same in plain
;; JavaScript, and test/synth/refiner.test.ts holds the two to the same bits.

(module
  (memory (export "memory") 1)

  ;; An unpadded 3x3 convolution to 16 channels, then ReLU: `in` (inW x inH x cin) to `out`
  ;; ((inW - 2) x (inH - 2) x 16). Two output pixels at a time (they share each weight load);
  ;; inW - 2 must be even. For one output row and kernel row the 3 x cin inputs and their
  ;; weights are contiguous, so the inner loop walks both straight through.
  (func (export "conv3") (param $in i32) (param $inW i32) (param $inH i32) (param $cin i32)
    (param $w i32) (param $b i32) (param $out i32)
    (local $y i32) (local $x i32) (local $outW i32) (local $outH i32) (local $pixel i32) (local $row i32)
    (local $dy i32) (local $p i32) (local $wp i32) (local $end i32) (local $o i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local $v0 v128) (local $v1 v128) (local $wv v128)
    (local.set $outW (i32.sub (local.get $inW) (i32.const 2)))
    (local.set $outH (i32.sub (local.get $inH) (i32.const 2)))
    (local.set $pixel (i32.shl (local.get $cin) (i32.const 2)))
    (local.set $row (i32.mul (local.get $inW) (local.get $pixel)))
    (local.set $o (local.get $out))
    (local.set $y (i32.const 0))
    (block $rowsDone (loop $rows
      (br_if $rowsDone (i32.ge_u (local.get $y) (local.get $outH)))
      (local.set $x (i32.const 0))
      (block $colsDone (loop $cols
        (br_if $colsDone (i32.ge_u (local.get $x) (local.get $outW)))
        (local.set $a0 (v128.load (local.get $b)))
        (local.set $a1 (v128.load offset=16 (local.get $b)))
        (local.set $a2 (v128.load offset=32 (local.get $b)))
        (local.set $a3 (v128.load offset=48 (local.get $b)))
        (local.set $a4 (local.get $a0))
        (local.set $a5 (local.get $a1))
        (local.set $a6 (local.get $a2))
        (local.set $a7 (local.get $a3))
        (local.set $wp (local.get $w))
        (local.set $dy (i32.const 0))
        (block $kernelDone (loop $kernelRows
          (br_if $kernelDone (i32.ge_u (local.get $dy) (i32.const 3)))
          (local.set $p (i32.add (local.get $in) (i32.add
            (i32.mul (i32.add (local.get $y) (local.get $dy)) (local.get $row))
            (i32.mul (local.get $x) (local.get $pixel)))))
          (local.set $end (i32.add (local.get $p) (i32.mul (local.get $pixel) (i32.const 3))))
          (block $tapsDone (loop $taps
            (br_if $tapsDone (i32.ge_u (local.get $p) (local.get $end)))
            (local.set $v0 (v128.load32_splat (local.get $p)))
            (local.set $v1 (v128.load32_splat (i32.add (local.get $p) (local.get $pixel))))
            (local.set $wv (v128.load (local.get $wp)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $v0) (local.get $wv))))
            (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (local.get $v1) (local.get $wv))))
            (local.set $wv (v128.load offset=16 (local.get $wp)))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $v0) (local.get $wv))))
            (local.set $a5 (f32x4.add (local.get $a5) (f32x4.mul (local.get $v1) (local.get $wv))))
            (local.set $wv (v128.load offset=32 (local.get $wp)))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $v0) (local.get $wv))))
            (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (local.get $v1) (local.get $wv))))
            (local.set $wv (v128.load offset=48 (local.get $wp)))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $v0) (local.get $wv))))
            (local.set $a7 (f32x4.add (local.get $a7) (f32x4.mul (local.get $v1) (local.get $wv))))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (local.set $wp (i32.add (local.get $wp) (i32.const 64)))
            (br $taps)))
          (local.set $dy (i32.add (local.get $dy) (i32.const 1)))
          (br $kernelRows)))
        ;; ReLU: max with +0 (wasm's max takes +0 over -0, as Math.max does).
        (v128.store (local.get $o) (f32x4.max (local.get $a0) (v128.const f32x4 0 0 0 0)))
        (v128.store offset=16 (local.get $o) (f32x4.max (local.get $a1) (v128.const f32x4 0 0 0 0)))
        (v128.store offset=32 (local.get $o) (f32x4.max (local.get $a2) (v128.const f32x4 0 0 0 0)))
        (v128.store offset=48 (local.get $o) (f32x4.max (local.get $a3) (v128.const f32x4 0 0 0 0)))
        (v128.store offset=64 (local.get $o) (f32x4.max (local.get $a4) (v128.const f32x4 0 0 0 0)))
        (v128.store offset=80 (local.get $o) (f32x4.max (local.get $a5) (v128.const f32x4 0 0 0 0)))
        (v128.store offset=96 (local.get $o) (f32x4.max (local.get $a6) (v128.const f32x4 0 0 0 0)))
        (v128.store offset=112 (local.get $o) (f32x4.max (local.get $a7) (v128.const f32x4 0 0 0 0)))
        (local.set $o (i32.add (local.get $o) (i32.const 128)))
        (local.set $x (i32.add (local.get $x) (i32.const 2)))
        (br $cols)))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $rows))))

  ;; The last layer: a 1x1 convolution of `h` (n pixels x 16) to RGB, added to the refiner's
  ;; input `x` (reach px wider than `h` on every side: `h` is the centre of x's image, xW wide),
  ;; times 255, rounded to the nearest integer (ties to even, as tf.round), clamped to 0..255,
  ;; written as bytes to `dst`. hW: h's width; n = hW x (h's height).
  ;; One pixel's three channels in the lanes of one vector (lane 3 computes a value nobody
  ;; stores: the loads of w, b and x read one float past the three they need, which the layout
  ;; in refiner.ts always has): each lane adds its sixteen products in the order the scalar sum
  ;; did, with the same roundings, so the same bytes.
  (func (export "finish") (param $h i32) (param $hW i32) (param $n i32) (param $w i32) (param $b i32)
    (param $x i32) (param $xW i32) (param $reach i32) (param $dst i32)
    (local $hp i32) (local $hEnd i32) (local $rowEnd i32) (local $xp i32) (local $d i32) (local $c i32)
    (local $s v128) (local $v v128)
    (local.set $hp (local.get $h))
    (local.set $hEnd (i32.add (local.get $h) (i32.shl (local.get $n) (i32.const 6))))
    (local.set $d (local.get $dst))
    ;; x's pixel under h's first pixel: (reach, reach).
    (local.set $xp (i32.add (local.get $x) (i32.mul (i32.const 12)
      (i32.add (i32.mul (local.get $reach) (local.get $xW)) (local.get $reach)))))
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $hp) (local.get $hEnd)))
      (local.set $rowEnd (i32.add (local.get $hp) (i32.shl (local.get $hW) (i32.const 6))))
      (block $rowDone (loop $pixels
        (br_if $rowDone (i32.ge_u (local.get $hp) (local.get $rowEnd)))
        (local.set $s (v128.load (local.get $b)))
        (local.set $c (i32.const 0))
        (block $inputsDone (loop $inputs
          (br_if $inputsDone (i32.ge_u (local.get $c) (i32.const 64)))
          (local.set $s (f32x4.add (local.get $s) (f32x4.mul
            (v128.load32_splat (i32.add (local.get $hp) (local.get $c)))
            (v128.load (i32.add (local.get $w) (i32.mul (local.get $c) (i32.const 3)))))))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br $inputs)))
        (local.set $v (f32x4.nearest (f32x4.mul (f32x4.add (v128.load (local.get $xp)) (local.get $s)) (v128.const f32x4 255 255 255 255))))
        (local.set $v (i32x4.trunc_sat_f32x4_u (f32x4.min (f32x4.max (local.get $v) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 255 255 255 255))))
        (i32.store8 (local.get $d) (i32x4.extract_lane 0 (local.get $v)))
        (i32.store8 offset=1 (local.get $d) (i32x4.extract_lane 1 (local.get $v)))
        (i32.store8 offset=2 (local.get $d) (i32x4.extract_lane 2 (local.get $v)))
        (local.set $d (i32.add (local.get $d) (i32.const 3)))
        (local.set $xp (i32.add (local.get $xp) (i32.const 12)))
        (local.set $hp (i32.add (local.get $hp) (i32.const 64)))
        (br $pixels)))
      ;; The next row of x: past the reach on both sides.
      (local.set $xp (i32.add (local.get $xp) (i32.mul (i32.const 24) (local.get $reach))))
      (br $rows))))
)
