/** Named float32 arrays with their shapes, as weight files hold them (PyTorch order: OIHW). */
export type NamedArrays = Map<string, { shape: number[]; data: Float32Array }>;

/** bfloat16 (the top 16 bits of a float32) to a number. */
export function bfloat16ToFloat(b: number): number {
  return new Float32Array(new Uint32Array([b << 16]).buffer)[0]!;
}

/** IEEE 754 half precision (as PyTorch's float16) to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
