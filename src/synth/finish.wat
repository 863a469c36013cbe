;; The last per-pixel step of a tile in WebAssembly (src/synth/render.ts's finishTile, through
;; src/synth/finish.ts; `npm run build:kernels` makes finish.wasm from this file): each painted
;; channel through the WSI's colour map, the tile's brightness and contrast drift, the glass
;; colour and the sensor noise, rounded to a byte. Every operation in double precision in the
;; order of its plain-loop definition (finish-reference.ts), so the same bytes; Math.round
;; (ties towards +infinity) is f64.nearest moved up by one where v - nearest(v) is exactly 0.5.

(module
  (memory (export "memory") 1)

  ;; Math.round.
  (func $round (param $v f64) (result f64) (local $r f64)
    (local.set $r (f64.nearest (local.get $v)))
    (if (result f64) (f64.eq (f64.sub (local.get $v) (local.get $r)) (f64.const 0.5))
      (then (f64.add (local.get $r) (f64.const 1)))
      (else (local.get $r))))

  ;; One channel: the colour map's entry for the rounded painted value (clamped to 0..255), then
  ;; ((v - mean) contrast + mean + offset), mixed towards the glass colour by `glassy`, plus the
  ;; noise; a byte (0 below 0, 255 above 255, else rounded).
  (func $channel (param $painted f64) (param $lut i32) (param $scale f64) (param $shiftBy f64) (param $mean f64)
    (param $contrast f64) (param $offset f64) (param $glassy f64) (param $glassColour f64) (param $noise f64) (result i32)
    (local $i f64) (local $v f64) (local $tissue f64) (local $out f64)
    (local.set $i (call $round (local.get $painted)))
    (local.set $i (select (f64.const 0) (local.get $i) (f64.lt (local.get $i) (f64.const 0))))
    (local.set $i (select (f64.const 255) (local.get $i) (f64.gt (local.get $i) (f64.const 255))))
    (local.set $v (f64.add (f64.mul
      (f64.promote_f32 (f32.load (i32.add (local.get $lut) (i32.shl (i32.trunc_f64_s (local.get $i)) (i32.const 2)))))
      (local.get $scale)) (local.get $shiftBy)))
    (local.set $tissue (f64.add (f64.add (f64.mul (f64.sub (local.get $v) (local.get $mean)) (local.get $contrast)) (local.get $mean)) (local.get $offset)))
    (local.set $out (f64.add
      (f64.add (local.get $tissue) (f64.mul (f64.sub (local.get $glassColour) (local.get $tissue)) (local.get $glassy)))
      (local.get $noise)))
    (if (f64.lt (local.get $out) (f64.const 0)) (then (return (i32.const 0))))
    (if (f64.gt (local.get $out) (f64.const 255)) (then (return (i32.const 255))))
    (i32.trunc_f64_s (call $round (local.get $out))))

  ;; n pixels: px (RGB float32), glass, shift and gain (float32 each), the three channels' maps
  ;; (256 float32 each, at lut, lut + 1024, lut + 2048), the Gaussian table (float32, `mask` + 1
  ;; values) walked from `at` by `stride`; RGB bytes to `out`.
  (func (export "finish") (param $px i32) (param $glass i32) (param $shift i32) (param $gain i32) (param $lut i32)
    (param $table i32) (param $at i32) (param $stride i32) (param $mask i32) (param $n i32) (param $out i32)
    (param $scale f64) (param $shiftBy f64) (param $mean f64) (param $noise f64) (param $drift f64) (param $spread f64)
    (param $grain f64) (param $glassR f64) (param $glassG f64) (param $glassB f64)
    (local $p i32) (local $q i32) (local $offset f64) (local $contrast f64) (local $glassy f64) (local $amp f64)
    (block $done (loop $pixels
      (br_if $done (i32.ge_u (local.get $p) (local.get $n)))
      (local.set $q (i32.shl (local.get $p) (i32.const 2)))
      (local.set $offset (f64.mul (local.get $drift) (f64.promote_f32 (f32.load (i32.add (local.get $shift) (local.get $q))))))
      (local.set $contrast (f64.add (f64.const 1) (f64.mul (local.get $spread) (f64.promote_f32 (f32.load (i32.add (local.get $gain) (local.get $q)))))))
      (local.set $glassy (f64.promote_f32 (f32.load (i32.add (local.get $glass) (local.get $q)))))
      ;; The noise's amplitude: noise (1 + grain glassy), applied as (gaussian noise) (1 + grain glassy).
      (local.set $amp (f64.add (f64.const 1) (f64.mul (local.get $grain) (local.get $glassy))))
      (local.set $q (i32.mul (local.get $p) (i32.const 12)))
      (i32.store8 (local.get $out) (call $channel
        (f64.promote_f32 (f32.load (i32.add (local.get $px) (local.get $q)))) (local.get $lut)
        (local.get $scale) (local.get $shiftBy) (local.get $mean) (local.get $contrast) (local.get $offset) (local.get $glassy) (local.get $glassR)
        (f64.mul (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $table) (i32.shl (local.get $at) (i32.const 2))))) (local.get $noise)) (local.get $amp))))
      (local.set $at (i32.and (i32.add (local.get $at) (local.get $stride)) (local.get $mask)))
      (i32.store8 offset=1 (local.get $out) (call $channel
        (f64.promote_f32 (f32.load offset=4 (i32.add (local.get $px) (local.get $q)))) (i32.add (local.get $lut) (i32.const 1024))
        (local.get $scale) (local.get $shiftBy) (local.get $mean) (local.get $contrast) (local.get $offset) (local.get $glassy) (local.get $glassG)
        (f64.mul (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $table) (i32.shl (local.get $at) (i32.const 2))))) (local.get $noise)) (local.get $amp))))
      (local.set $at (i32.and (i32.add (local.get $at) (local.get $stride)) (local.get $mask)))
      (i32.store8 offset=2 (local.get $out) (call $channel
        (f64.promote_f32 (f32.load offset=8 (i32.add (local.get $px) (local.get $q)))) (i32.add (local.get $lut) (i32.const 2048))
        (local.get $scale) (local.get $shiftBy) (local.get $mean) (local.get $contrast) (local.get $offset) (local.get $glassy) (local.get $glassB)
        (f64.mul (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $table) (i32.shl (local.get $at) (i32.const 2))))) (local.get $noise)) (local.get $amp))))
      (local.set $at (i32.and (i32.add (local.get $at) (local.get $stride)) (local.get $mask)))
      (local.set $out (i32.add (local.get $out) (i32.const 3)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $pixels))))
)
