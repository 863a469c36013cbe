/** Conv kernels between tfjs' [kh, kw, in, out] (HWIO) and ONNX's [out, in, kh, kw] (OIHW); `dims` are the OIHW dims. */
export function hwioToOihw(src: Float32Array, [o, i, kh, kw]: number[]): Float32Array {
  const out = new Float32Array(src.length);
  for (let y = 0; y < kh!; y++) for (let x = 0; x < kw!; x++) for (let c = 0; c < i!; c++) for (let f = 0; f < o!; f++) {
    out[((f * i! + c) * kh! + y) * kw! + x] = src[((y * kw! + x) * i! + c) * o! + f]!;
  }
  return out;
}

export function oihwToHwio(src: Float32Array, [o, i, kh, kw]: number[]): Float32Array {
  const out = new Float32Array(src.length);
  for (let y = 0; y < kh!; y++) for (let x = 0; x < kw!; x++) for (let c = 0; c < i!; c++) for (let f = 0; f < o!; f++) {
    out[((y * kw! + x) * i! + c) * o! + f] = src[((f * i! + c) * kh! + y) * kw! + x]!;
  }
  return out;
}
