;; The JPEG round trip's 8x8 blocks in WebAssembly SIMD (src/synth/jpeg.ts loads the compiled
;; jpeg.wasm; `npm run build:kernels` makes it from this file): forward DCT, quantisation to the
;; table's steps, inverse DCT, in double precision as jpeg.ts's plain loops (`quantiseBlock`)
;; define it, with the same bits.
;;
;; Why the same bits: every sum starts at +0 and adds its products in the loops' index order,
;; each product rounded to double before it is added (WebAssembly has no fused multiply-add),
;; two lanes computing two independent sums. The plain loops leave out the inverse's terms of
;; coefficients quantised to zero; here they are added, and adding a zero product to a sum that
;; started at +0 changes nothing (such a sum is never -0). Math.round (ties towards +infinity) is
;; f64x2.nearest (ties to even) moved up by one where x - nearest(x) is exactly 0.5 (that
;; difference is always exact).
;;
;; Memory (bytes): 0 the basis B[u * 8 + x], 512 its transpose, 1024 the quantisation table
;; (row-major), 1536 the block, 2048 a scratch block, from 2560 the plane (w x h doubles).

(module
  (memory (export "memory") 1)

  ;; One 8x8 block at 1536, in place.
  (func $block
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
            (f64x2.splat (f64.load offset=1536 (i32.shl (i32.add (i32.shl (local.get $y) (i32.const 3)) (local.get $k)) (i32.const 3)))))))
          (br_if $xs (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 8))))
        (v128.store offset=2048 (i32.shl (i32.add (i32.shl (local.get $y) (i32.const 3)) (local.get $u)) (i32.const 3)) (local.get $acc))
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
            (v128.load offset=2048 (i32.shl (i32.add (i32.shl (local.get $k) (i32.const 3)) (local.get $u)) (i32.const 3))))))
          (br_if $ks (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 8))))
        (local.set $k (i32.shl (i32.add (i32.shl (local.get $y) (i32.const 3)) (local.get $u)) (i32.const 3)))
        (local.set $x (f64x2.div (local.get $acc) (v128.load offset=1024 (local.get $k))))
        (local.set $r (f64x2.nearest (local.get $x)))
        (local.set $r (v128.bitselect
          (f64x2.add (local.get $r) (f64x2.splat (f64.const 1)))
          (local.get $r)
          (f64x2.eq (f64x2.sub (local.get $x) (local.get $r)) (f64x2.splat (f64.const 0.5)))))
        (v128.store offset=1536 (local.get $k) (f64x2.mul (local.get $r) (v128.load offset=1024 (local.get $k))))
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
            (v128.load offset=1536 (i32.shl (i32.add (i32.shl (local.get $k) (i32.const 3)) (local.get $u)) (i32.const 3))))))
          (br_if $iv (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 8))))
        (v128.store offset=2048 (i32.shl (i32.add (i32.shl (local.get $y) (i32.const 3)) (local.get $u)) (i32.const 3)) (local.get $acc))
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
            (f64x2.splat (f64.load offset=2048 (i32.shl (i32.add (i32.shl (local.get $y) (i32.const 3)) (local.get $k)) (i32.const 3)))))))
          (br_if $ru (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 8))))
        (v128.store offset=1536 (i32.shl (i32.add (i32.shl (local.get $y) (i32.const 3)) (local.get $u)) (i32.const 3)) (local.get $acc))
        (br_if $rx (i32.lt_u (local.tee $u (i32.add (local.get $u) (i32.const 2))) (i32.const 8))))
      (br_if $ry (i32.lt_u (local.tee $y (i32.add (local.get $y) (i32.const 1))) (i32.const 8)))))

  ;; Quantise the w x h plane at 2560 (w, h multiples of 8) block by block, its values level-shifted by 128.
  (func (export "quantisePlane") (param $w i32) (param $h i32)
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
          (local.set $p (i32.add (i32.const 2560) (i32.shl (i32.add (i32.mul (i32.add (local.get $by) (local.get $y)) (local.get $w)) (local.get $bx)) (i32.const 3))))
          (local.set $b (i32.add (i32.const 1536) (i32.shl (local.get $y) (i32.const 6))))
          (local.set $x (i32.const 0))
          (loop $lx
            (v128.store (i32.add (local.get $b) (local.get $x)) (f64x2.sub (v128.load (i32.add (local.get $p) (local.get $x))) (f64x2.splat (f64.const 128))))
            (br_if $lx (i32.lt_u (local.tee $x (i32.add (local.get $x) (i32.const 16))) (i32.const 64))))
          (br_if $ly (i32.lt_u (local.tee $y (i32.add (local.get $y) (i32.const 1))) (i32.const 8))))
        (call $block)
        ;; Store: plane[by + y][bx + x] = block[y][x] + 128.
        (local.set $y (i32.const 0))
        (loop $sy
          (local.set $p (i32.add (i32.const 2560) (i32.shl (i32.add (i32.mul (i32.add (local.get $by) (local.get $y)) (local.get $w)) (local.get $bx)) (i32.const 3))))
          (local.set $b (i32.add (i32.const 1536) (i32.shl (local.get $y) (i32.const 6))))
          (local.set $x (i32.const 0))
          (loop $sx
            (v128.store (i32.add (local.get $p) (local.get $x)) (f64x2.add (v128.load (i32.add (local.get $b) (local.get $x))) (f64x2.splat (f64.const 128))))
            (br_if $sx (i32.lt_u (local.tee $x (i32.add (local.get $x) (i32.const 16))) (i32.const 64))))
          (br_if $sy (i32.lt_u (local.tee $y (i32.add (local.get $y) (i32.const 1))) (i32.const 8))))
        (local.set $bx (i32.add (local.get $bx) (i32.const 8)))
        (br $blocks)))
      (local.set $by (i32.add (local.get $by) (i32.const 8)))
      (br $blockRows))))
)
