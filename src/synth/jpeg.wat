;; The JPEG round trip in WebAssembly (src/synth/jpeg.ts loads the compiled jpeg.wasm; `npm run
;; build:kernels` makes it from this file): the colour conversion, the 8x8 blocks in SIMD
;; (forward DCT, quantisation to the table's steps, inverse DCT), the chroma upsampling and the
;; bytes back, in double precision as the plain loops of jpeg-reference.ts define them, with the
;; same bits.
;;
;; Why the same bits: every sum starts at +0 and adds its products in the loops' index order,
;; each product rounded to double before it is added (WebAssembly has no fused multiply-add),
;; two lanes computing two independent sums. The plain loops leave out the inverse's terms of
;; coefficients quantised to zero; here they are added, and adding a zero product to a sum that
;; started at +0 changes nothing (such a sum is never -0). Math.round (ties towards +infinity) is
;; f64x2.nearest (ties to even) moved up by one where x - nearest(x) is exactly 0.5 (that
;; difference is always exact).
;;
;; Memory (bytes): 0 the basis B[u * 8 + x], 512 its transpose, 1024 and 1536 the luma and
;; chroma quantisation tables (row-major), 2048 the block, 2560 a scratch block, from 3072 the
;; images and planes, where jpeg.ts puts them.

(module
  (memory (export "memory") 1)

  ;; One 8x8 block at 2048, in place, quantised by the table at `table`.
  (func $block (param $table i32)
    (local $y i32) (local $u i32) (local $k i32) (local $acc v128) (local $x v128) (local $r v128)
    ;; Forward, rows: tmp[y][u] = sum_x B[u][x] block[y][x]; two u at a time from the transpose.
    (local.set $y (i32.const 0))
    (loop $rows
      (local.set $u (i32.const 0))
      (loop $us
        (local.set $acc (f64x2.splat (f64.const 0)))
        (local.set $k (i32.const 0))
        (loop $xs
          (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul
            (v128.load offset=512 (i32.shl (i32.add (i32.shl (local.get $k) (i32.const 3)) (local.get $u)) (i32.const 3)))
            (f64x2.splat (f64.load offset=2048 (i32.shl (i32.add (i32.shl (local.get $y) (i32.const 3)) (local.get $k)) (i32.const 3)))))))
          (br_if $xs (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 8))))
        (v128.store offset=2560 (i32.shl (i32.add (i32.shl (local.get $y) (i32.const 3)) (local.get $u)) (i32.const 3)) (local.get $acc))
        (br_if $us (i32.lt_u (local.tee $u (i32.add (local.get $u) (i32.const 2))) (i32.const 8))))
      (br_if $rows (i32.lt_u (local.tee $y (i32.add (local.get $y) (i32.const 1))) (i32.const 8))))
    ;; Forward, columns, then quantise: block[v][u] = round(sum_k B[v][k] tmp[k][u] / q) q.
    (local.set $y (i32.const 0)) ;; v
    (loop $vs
      (local.set $u (i32.const 0))
      (loop $us2
        (local.set $acc (f64x2.splat (f64.const 0)))
        (local.set $k (i32.const 0))
        (loop $ks
          (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul
            (f64x2.splat (f64.load (i32.shl (i32.add (i32.shl (local.get $y) (i32.const 3)) (local.get $k)) (i32.const 3))))
            (v128.load offset=2560 (i32.shl (i32.add (i32.shl (local.get $k) (i32.const 3)) (local.get $u)) (i32.const 3))))))
          (br_if $ks (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 8))))
        (local.set $k (i32.shl (i32.add (i32.shl (local.get $y) (i32.const 3)) (local.get $u)) (i32.const 3)))
        (local.set $x (f64x2.div (local.get $acc) (v128.load (i32.add (local.get $table) (local.get $k)))))
        (local.set $r (f64x2.nearest (local.get $x)))
        (local.set $r (v128.bitselect
          (f64x2.add (local.get $r) (f64x2.splat (f64.const 1)))
          (local.get $r)
          (f64x2.eq (f64x2.sub (local.get $x) (local.get $r)) (f64x2.splat (f64.const 0.5)))))
        (v128.store offset=2048 (local.get $k) (f64x2.mul (local.get $r) (v128.load (i32.add (local.get $table) (local.get $k)))))
        (br_if $us2 (i32.lt_u (local.tee $u (i32.add (local.get $u) (i32.const 2))) (i32.const 8))))
      (br_if $vs (i32.lt_u (local.tee $y (i32.add (local.get $y) (i32.const 1))) (i32.const 8))))
    ;; Inverse, columns: tmp[y][u] = sum_v B[v][y] block[v][u].
    (local.set $y (i32.const 0))
    (loop $iy
      (local.set $u (i32.const 0))
      (loop $iu
        (local.set $acc (f64x2.splat (f64.const 0)))
        (local.set $k (i32.const 0))
        (loop $iv
          (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul
            (f64x2.splat (f64.load (i32.shl (i32.add (i32.shl (local.get $k) (i32.const 3)) (local.get $y)) (i32.const 3))))
            (v128.load offset=2048 (i32.shl (i32.add (i32.shl (local.get $k) (i32.const 3)) (local.get $u)) (i32.const 3))))))
          (br_if $iv (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 8))))
        (v128.store offset=2560 (i32.shl (i32.add (i32.shl (local.get $y) (i32.const 3)) (local.get $u)) (i32.const 3)) (local.get $acc))
        (br_if $iu (i32.lt_u (local.tee $u (i32.add (local.get $u) (i32.const 2))) (i32.const 8))))
      (br_if $iy (i32.lt_u (local.tee $y (i32.add (local.get $y) (i32.const 1))) (i32.const 8))))
    ;; Inverse, rows: block[y][x] = sum_u B[u][x] tmp[y][u]; two x at a time.
    (local.set $y (i32.const 0))
    (loop $ry
      (local.set $u (i32.const 0)) ;; x
      (loop $rx
        (local.set $acc (f64x2.splat (f64.const 0)))
        (local.set $k (i32.const 0))
        (loop $ru
          (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul
            (v128.load (i32.shl (i32.add (i32.shl (local.get $k) (i32.const 3)) (local.get $u)) (i32.const 3)))
            (f64x2.splat (f64.load offset=2560 (i32.shl (i32.add (i32.shl (local.get $y) (i32.const 3)) (local.get $k)) (i32.const 3)))))))
          (br_if $ru (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 8))))
        (v128.store offset=2048 (i32.shl (i32.add (i32.shl (local.get $y) (i32.const 3)) (local.get $u)) (i32.const 3)) (local.get $acc))
        (br_if $rx (i32.lt_u (local.tee $u (i32.add (local.get $u) (i32.const 2))) (i32.const 8))))
      (br_if $ry (i32.lt_u (local.tee $y (i32.add (local.get $y) (i32.const 1))) (i32.const 8)))))

  ;; Quantise the w x h plane at `at` (w, h multiples of 8) block by block with the table at
  ;; `table`, its values level-shifted by 128.
  (func (export "quantisePlane") (param $at i32) (param $w i32) (param $h i32) (param $table i32)
    (local $by i32) (local $bx i32) (local $y i32) (local $x i32) (local $p i32) (local $b i32)
    (local.set $by (i32.const 0))
    (block $done (loop $blockRows
      (br_if $done (i32.ge_u (local.get $by) (local.get $h)))
      (local.set $bx (i32.const 0))
      (block $rowDone (loop $blocks
        (br_if $rowDone (i32.ge_u (local.get $bx) (local.get $w)))
        ;; Load: block[y][x] = plane[by + y][bx + x] - 128, two at a time.
        (local.set $y (i32.const 0))
        (loop $ly
          (local.set $p (i32.add (local.get $at) (i32.shl (i32.add (i32.mul (i32.add (local.get $by) (local.get $y)) (local.get $w)) (local.get $bx)) (i32.const 3))))
          (local.set $b (i32.add (i32.const 2048) (i32.shl (local.get $y) (i32.const 6))))
          (local.set $x (i32.const 0))
          (loop $lx
            (v128.store (i32.add (local.get $b) (local.get $x)) (f64x2.sub (v128.load (i32.add (local.get $p) (local.get $x))) (f64x2.splat (f64.const 128))))
            (br_if $lx (i32.lt_u (local.tee $x (i32.add (local.get $x) (i32.const 16))) (i32.const 64))))
          (br_if $ly (i32.lt_u (local.tee $y (i32.add (local.get $y) (i32.const 1))) (i32.const 8))))
        (call $block (local.get $table))
        ;; Store: plane[by + y][bx + x] = block[y][x] + 128.
        (local.set $y (i32.const 0))
        (loop $sy
          (local.set $p (i32.add (local.get $at) (i32.shl (i32.add (i32.mul (i32.add (local.get $by) (local.get $y)) (local.get $w)) (local.get $bx)) (i32.const 3))))
          (local.set $b (i32.add (i32.const 2048) (i32.shl (local.get $y) (i32.const 6))))
          (local.set $x (i32.const 0))
          (loop $sx
            (v128.store (i32.add (local.get $p) (local.get $x)) (f64x2.add (v128.load (i32.add (local.get $b) (local.get $x))) (f64x2.splat (f64.const 128))))
            (br_if $sx (i32.lt_u (local.tee $x (i32.add (local.get $x) (i32.const 16))) (i32.const 64))))
          (br_if $sy (i32.lt_u (local.tee $y (i32.add (local.get $y) (i32.const 1))) (i32.const 8))))
        (local.set $bx (i32.add (local.get $bx) (i32.const 8)))
        (br $blocks)))
      (local.set $by (i32.add (local.get $by) (i32.const 8)))
      (br $blockRows))))

  ;; Colour: each sum in jpeg-reference.ts's order (left to right), in double precision.
  (func $cbOf (param $k i32) (result f64)
    (f64.add (f64.sub
      (f64.mul (f64.const -0.168736) (f64.convert_i32_u (i32.load8_u (local.get $k))))
      (f64.mul (f64.const 0.331264) (f64.convert_i32_u (i32.load8_u offset=1 (local.get $k)))))
      (f64.mul (f64.const 0.5) (f64.convert_i32_u (i32.load8_u offset=2 (local.get $k))))))
  (func $crOf (param $k i32) (result f64)
    (f64.sub (f64.sub
      (f64.mul (f64.const 0.5) (f64.convert_i32_u (i32.load8_u (local.get $k))))
      (f64.mul (f64.const 0.418688) (f64.convert_i32_u (i32.load8_u offset=1 (local.get $k)))))
      (f64.mul (f64.const 0.081312) (f64.convert_i32_u (i32.load8_u offset=2 (local.get $k))))))

  ;; JFIF YCbCr of the w x h RGB bytes at `rgb`: Y at full resolution, Cb and Cr (w/2 x h/2,
  ;; +128) each 2x2 block's mean, its four pixels summed from 0 in row order.
  (func (export "toYCbCr") (param $rgb i32) (param $w i32) (param $h i32) (param $Y i32) (param $cb i32) (param $cr i32)
    (local $p i32) (local $end i32) (local $k i32) (local $x i32) (local $y i32) (local $a i32) (local $row i32)
    (local.set $p (local.get $Y))
    (local.set $end (i32.add (local.get $Y) (i32.shl (i32.mul (local.get $w) (local.get $h)) (i32.const 3))))
    (local.set $k (local.get $rgb))
    (block $done (loop $pixels
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (f64.store (local.get $p) (f64.add (f64.add
        (f64.mul (f64.const 0.299) (f64.convert_i32_u (i32.load8_u (local.get $k))))
        (f64.mul (f64.const 0.587) (f64.convert_i32_u (i32.load8_u offset=1 (local.get $k)))))
        (f64.mul (f64.const 0.114) (f64.convert_i32_u (i32.load8_u offset=2 (local.get $k))))))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (local.set $k (i32.add (local.get $k) (i32.const 3)))
      (br $pixels)))
    (local.set $row (i32.mul (local.get $w) (i32.const 3)))
    (local.set $p (i32.const 0))
    (local.set $y (i32.const 0))
    (block $rowsDone (loop $rows
      (br_if $rowsDone (i32.ge_u (local.get $y) (i32.shr_u (local.get $h) (i32.const 1))))
      (local.set $x (i32.const 0))
      (block $colsDone (loop $cols
        (br_if $colsDone (i32.ge_u (local.get $x) (i32.shr_u (local.get $w) (i32.const 1))))
        (local.set $a (i32.add (local.get $rgb) (i32.mul (i32.add (i32.mul (i32.shl (local.get $y) (i32.const 1)) (local.get $w)) (i32.shl (local.get $x) (i32.const 1))) (i32.const 3))))
        (f64.store (i32.add (local.get $cb) (local.get $p)) (f64.add (f64.div (f64.add (f64.add (f64.add (f64.add (f64.const 0)
          (call $cbOf (local.get $a))) (call $cbOf (i32.add (local.get $a) (i32.const 3))))
          (call $cbOf (i32.add (local.get $a) (local.get $row)))) (call $cbOf (i32.add (i32.add (local.get $a) (local.get $row)) (i32.const 3))))
          (f64.const 4)) (f64.const 128)))
        (f64.store (i32.add (local.get $cr) (local.get $p)) (f64.add (f64.div (f64.add (f64.add (f64.add (f64.add (f64.const 0)
          (call $crOf (local.get $a))) (call $crOf (i32.add (local.get $a) (i32.const 3))))
          (call $crOf (i32.add (local.get $a) (local.get $row)))) (call $crOf (i32.add (i32.add (local.get $a) (local.get $row)) (i32.const 3))))
          (f64.const 4)) (f64.const 128)))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (br $cols)))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $rows))))

  ;; The cw x ch plane at `plane` at full resolution (out, 2cw x 2ch) by libjpeg's triangle
  ;; filter: 3/4 of the pixel's own sample and 1/4 of the next one towards it, down (into `rows`,
  ;; cw x 2ch) then across.
  (func (export "upsample") (param $plane i32) (param $cw i32) (param $ch i32) (param $rows i32) (param $out i32)
    (local $y i32) (local $x i32) (local $s i32) (local $n i32) (local $o i32)
    (local.set $o (local.get $rows))
    (local.set $y (i32.const 0))
    (block $vDone (loop $vRows
      (br_if $vDone (i32.ge_u (local.get $y) (i32.shl (local.get $ch) (i32.const 1))))
      (local.set $s (i32.shr_u (local.get $y) (i32.const 1)))
      (local.set $n (select (i32.add (local.get $s) (i32.const 1)) (i32.sub (local.get $s) (i32.const 1)) (i32.and (local.get $y) (i32.const 1))))
      (local.set $n (select (i32.const 0) (local.get $n) (i32.lt_s (local.get $n) (i32.const 0))))
      (local.set $n (select (i32.sub (local.get $ch) (i32.const 1)) (local.get $n) (i32.gt_s (local.get $n) (i32.sub (local.get $ch) (i32.const 1)))))
      (local.set $s (i32.add (local.get $plane) (i32.shl (i32.mul (local.get $s) (local.get $cw)) (i32.const 3))))
      (local.set $n (i32.add (local.get $plane) (i32.shl (i32.mul (local.get $n) (local.get $cw)) (i32.const 3))))
      (local.set $x (i32.const 0))
      (block $vColsDone (loop $vCols
        (br_if $vColsDone (i32.ge_u (local.get $x) (local.get $cw)))
        (f64.store (local.get $o) (f64.add
          (f64.mul (f64.const 0.75) (f64.load (i32.add (local.get $s) (i32.shl (local.get $x) (i32.const 3)))))
          (f64.mul (f64.const 0.25) (f64.load (i32.add (local.get $n) (i32.shl (local.get $x) (i32.const 3)))))))
        (local.set $o (i32.add (local.get $o) (i32.const 8)))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (br $vCols)))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $vRows)))
    (local.set $o (local.get $out))
    (local.set $y (i32.const 0))
    (block $hDone (loop $hRows
      (br_if $hDone (i32.ge_u (local.get $y) (i32.shl (local.get $ch) (i32.const 1))))
      (local.set $x (i32.const 0))
      (block $hColsDone (loop $hCols
        (br_if $hColsDone (i32.ge_u (local.get $x) (i32.shl (local.get $cw) (i32.const 1))))
        (local.set $s (i32.shr_u (local.get $x) (i32.const 1)))
        (local.set $n (select (i32.add (local.get $s) (i32.const 1)) (i32.sub (local.get $s) (i32.const 1)) (i32.and (local.get $x) (i32.const 1))))
        (local.set $n (select (i32.const 0) (local.get $n) (i32.lt_s (local.get $n) (i32.const 0))))
        (local.set $n (select (i32.sub (local.get $cw) (i32.const 1)) (local.get $n) (i32.gt_s (local.get $n) (i32.sub (local.get $cw) (i32.const 1)))))
        (f64.store (local.get $o) (f64.add
          (f64.mul (f64.const 0.75) (f64.load (i32.add (local.get $rows) (i32.shl (i32.add (i32.mul (local.get $y) (local.get $cw)) (local.get $s)) (i32.const 3)))))
          (f64.mul (f64.const 0.25) (f64.load (i32.add (local.get $rows) (i32.shl (i32.add (i32.mul (local.get $y) (local.get $cw)) (local.get $n)) (i32.const 3)))))))
        (local.set $o (i32.add (local.get $o) (i32.const 8)))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (br $hCols)))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $hRows))))

  ;; A byte as jpeg-reference.ts's clampByte: 0 below 0, 255 above 255, else Math.round (ties
  ;; up: f64.nearest rounds them to even, so one up where v - nearest(v) is exactly 0.5).
  (func $byte (export "byte") (param $v f64) (result i32) (local $r f64)
    (if (f64.lt (local.get $v) (f64.const 0)) (then (return (i32.const 0))))
    (if (f64.gt (local.get $v) (f64.const 255)) (then (return (i32.const 255))))
    (local.set $r (f64.nearest (local.get $v)))
    (if (f64.eq (f64.sub (local.get $v) (local.get $r)) (f64.const 0.5)) (then (local.set $r (f64.add (local.get $r) (f64.const 1)))))
    (i32.trunc_f64_s (local.get $r)))

  ;; RGB bytes at `out` from n pixels of Y and the upsampled Cb and Cr (+128).
  (func (export "toRgb") (param $Y i32) (param $cbF i32) (param $crF i32) (param $n i32) (param $out i32)
    (local $p i32) (local $end i32) (local $yy f64) (local $cb f64) (local $cr f64)
    (local.set $end (i32.shl (local.get $n) (i32.const 3)))
    (block $done (loop $pixels
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $yy (f64.load (i32.add (local.get $Y) (local.get $p))))
      (local.set $cb (f64.sub (f64.load (i32.add (local.get $cbF) (local.get $p))) (f64.const 128)))
      (local.set $cr (f64.sub (f64.load (i32.add (local.get $crF) (local.get $p))) (f64.const 128)))
      (i32.store8 (local.get $out) (call $byte (f64.add (local.get $yy) (f64.mul (f64.const 1.402) (local.get $cr)))))
      (i32.store8 offset=1 (local.get $out) (call $byte (f64.sub (f64.sub (local.get $yy) (f64.mul (f64.const 0.344136) (local.get $cb))) (f64.mul (f64.const 0.714136) (local.get $cr)))))
      (i32.store8 offset=2 (local.get $out) (call $byte (f64.add (local.get $yy) (f64.mul (f64.const 1.772) (local.get $cb)))))
      (local.set $out (i32.add (local.get $out) (i32.const 3)))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (br $pixels))))
)
