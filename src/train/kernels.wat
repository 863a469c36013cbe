;; The optimiser's per-weight loops in WebAssembly SIMD (src/train/kernels.ts loads the
;; compiled kernels.wasm; `npm run build:kernels` makes it from this file).
;;
;; Each kernel works on up to four regions of the memory, A, B, C and D (byte offsets 0, 65536,
;; 131072 and 196608: 16,384 floats each), where the caller has copied a chunk of its
;; arrays; `n` is the chunk's length. The loops go two (`add`: four) floats at a time and so may
;; also compute the floats just past `n` in each region, which the caller never copies back.
;;
;; Why double precision: the loops these replace computed each element in double (JS numbers)
;; and rounded it to float32 once, when stored. Doing the same in f64x2 lanes (two float32
;; values widened at a time, the same operations in the same order, rounded back to float32
;; where the JS stored) gives the same bits; float32 arithmetic would not.

(module
  (memory (export "memory") 5)
  ;; Floats per region, for kernels.ts; the load and store offsets below are its byte multiples.
  (global (export "region") i32 (i32.const 16384))

;; Two float32 values at a time: `v128.load64_zero` reads a pair into the low half of a vector,
;; f64x2.promote_low_f32x4 widens it, f32x4.demote_f64x2_zero rounds it back and
;; `v128.store64_lane 0` writes the pair (no shuffles, and no helper calls: V8 does not inline them).

  ;; Nesterov SGD (A weights, B gradients, C velocity): g' = g + wd p, v = round(m v + g'), p = p - rate (g' + m v).
  (func (export "sgd") (param $n i32) (param $wd f64) (param $m f64) (param $rate f64)
    (local $a i32) (local $end i32) (local $wd2 v128) (local $m2 v128) (local $rate2 v128)
    (local $p v128) (local $g v128) (local $v v128)
    (local.set $wd2 (f64x2.splat (local.get $wd)))
    (local.set $m2 (f64x2.splat (local.get $m)))
    (local.set $rate2 (f64x2.splat (local.get $rate)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (local.set $p (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $a))))
      (local.set $g (f64x2.promote_low_f32x4 (v128.load64_zero offset=65536 (local.get $a))))
      (local.set $v (f64x2.promote_low_f32x4 (v128.load64_zero offset=131072 (local.get $a))))
      (local.set $g (f64x2.add (local.get $g) (f64x2.mul (local.get $wd2) (local.get $p))))
      (local.set $v (f32x4.demote_f64x2_zero (f64x2.add (f64x2.mul (local.get $m2) (local.get $v)) (local.get $g))))
      (v128.store64_lane offset=131072 0 (local.get $a) (local.get $v))
      (local.set $v (f64x2.promote_low_f32x4 (local.get $v)))
      (local.set $p (f64x2.sub (local.get $p) (f64x2.mul (local.get $rate2) (f64x2.add (local.get $g) (f64x2.mul (local.get $m2) (local.get $v))))))
      (v128.store64_lane 0 (local.get $a) (f32x4.demote_f64x2_zero (local.get $p)))
      (local.set $a (i32.add (local.get $a) (i32.const 8)))
      (br $next))))

  ;; AdamW (A weights, B gradients, C first moments, D second moments), as optim.ts's AdamW.step:
  ;; m = round(b1 m + b1c g), v = round(b2 v + b2c g g), p = p - rate (m u1 / (sqrt(v) u2 + eps) + wd p).
  (func (export "adamw") (param $n i32) (param $b1 f64) (param $b1c f64) (param $b2 f64) (param $b2c f64)
    (param $u1 f64) (param $u2 f64) (param $eps f64) (param $rate f64) (param $wd f64)
    (local $a i32) (local $end i32)
    (local $b1x v128) (local $b1cx v128) (local $b2x v128) (local $b2cx v128) (local $u1x v128) (local $u2x v128)
    (local $epsx v128) (local $ratex v128) (local $wdx v128)
    (local $p v128) (local $g v128) (local $m v128) (local $v v128)
    (local.set $b1x (f64x2.splat (local.get $b1)))
    (local.set $b1cx (f64x2.splat (local.get $b1c)))
    (local.set $b2x (f64x2.splat (local.get $b2)))
    (local.set $b2cx (f64x2.splat (local.get $b2c)))
    (local.set $u1x (f64x2.splat (local.get $u1)))
    (local.set $u2x (f64x2.splat (local.get $u2)))
    (local.set $epsx (f64x2.splat (local.get $eps)))
    (local.set $ratex (f64x2.splat (local.get $rate)))
    (local.set $wdx (f64x2.splat (local.get $wd)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (local.set $g (f64x2.promote_low_f32x4 (v128.load64_zero offset=65536 (local.get $a))))
      (local.set $m (f64x2.promote_low_f32x4 (v128.load64_zero offset=131072 (local.get $a))))
      (local.set $v (f64x2.promote_low_f32x4 (v128.load64_zero offset=196608 (local.get $a))))
      (local.set $m (f32x4.demote_f64x2_zero (f64x2.add (f64x2.mul (local.get $b1x) (local.get $m)) (f64x2.mul (local.get $b1cx) (local.get $g)))))
      (local.set $v (f32x4.demote_f64x2_zero (f64x2.add (f64x2.mul (local.get $b2x) (local.get $v))
        (f64x2.mul (f64x2.mul (local.get $b2cx) (local.get $g)) (local.get $g)))))
      (v128.store64_lane offset=131072 0 (local.get $a) (local.get $m))
      (v128.store64_lane offset=196608 0 (local.get $a) (local.get $v))
      (local.set $m (f64x2.promote_low_f32x4 (local.get $m)))
      (local.set $v (f64x2.promote_low_f32x4 (local.get $v)))
      (local.set $p (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $a))))
      (local.set $p (f64x2.sub (local.get $p) (f64x2.mul (local.get $ratex) (f64x2.add
        (f64x2.div (f64x2.mul (local.get $m) (local.get $u1x)) (f64x2.add (f64x2.mul (f64x2.sqrt (local.get $v)) (local.get $u2x)) (local.get $epsx)))
        (f64x2.mul (local.get $wdx) (local.get $p))))))
      (v128.store64_lane 0 (local.get $a) (f32x4.demote_f64x2_zero (local.get $p)))
      (local.set $a (i32.add (local.get $a) (i32.const 8)))
      (br $next))))

  ;; The EMA (A shadow, B source): s = s d + x e.
  (func (export "ema") (param $n i32) (param $d f64) (param $e f64)
    (local $a i32) (local $end i32) (local $dx v128) (local $ex v128)
    (local.set $dx (f64x2.splat (local.get $d)))
    (local.set $ex (f64x2.splat (local.get $e)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (v128.store64_lane 0 (local.get $a) (f32x4.demote_f64x2_zero (f64x2.add
        (f64x2.mul (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $a))) (local.get $dx))
        (f64x2.mul (f64x2.promote_low_f32x4 (v128.load64_zero offset=65536 (local.get $a))) (local.get $ex)))))
      (local.set $a (i32.add (local.get $a) (i32.const 8)))
      (br $next))))

  ;; A = A + B. In float32 directly: a float32 sum rounded through double is the float32 sum.
  (func (export "add") (param $n i32)
    (local $a i32) (local $end i32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (v128.store (local.get $a) (f32x4.add (v128.load (local.get $a)) (v128.load offset=65536 (local.get $a))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (br $next))))

  ;; A = A c (c a double, so in double).
  (func (export "scale") (param $n i32) (param $c f64)
    (local $a i32) (local $end i32) (local $cx v128)
    (local.set $cx (f64x2.splat (local.get $c)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (v128.store64_lane 0 (local.get $a) (f32x4.demote_f64x2_zero
        (f64x2.mul (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $a))) (local.get $cx))))
      (local.set $a (i32.add (local.get $a) (i32.const 8)))
      (br $next))))

  ;; sum + A[0]^2 + A[1]^2 + ... + A[n-1]^2, one element after the other in double (exactly n of
  ;; them, in the order the JS summed, so the same bits; lanes would sum in another order).
  (func (export "sumsq") (param $n i32) (param $sum f64) (result f64)
    (local $a i32) (local $end i32) (local $x f64)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (local.set $x (f64.promote_f32 (f32.load (local.get $a))))
      (local.set $sum (f64.add (local.get $sum) (f64.mul (local.get $x) (local.get $x))))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (br $next)))
    (local.get $sum))
)
