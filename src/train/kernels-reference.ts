/**
 * The definitions of kernels.ts's SIMD kernels as plain loops: each element computed in double
 * and rounded to float32 where it is stored (what optim.ts ran before the kernels). The kernels
 * must give the same bits (test/train/kernels.test.ts); `npm run bench:optim` times both.
 * Nothing in training calls these.
 */
export const referenceKernels = {
  sgdStep(p: Float32Array, g: Float32Array, v: Float32Array, wd: number, m: number, rate: number): void {
    for (let k = 0; k < p.length; k++) {
      const gk = g[k]! + wd * p[k]!;
      v[k] = m * v[k]! + gk;
      p[k] = p[k]! - rate * (gk + m * v[k]!);
    }
  },
  adamwStep(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
    b1: number, b2: number, u1: number, u2: number, eps: number, rate: number, wd: number): void {
    for (let k = 0; k < p.length; k++) {
      m[k] = b1 * m[k]! + (1 - b1) * g[k]!;
      v[k] = b2 * v[k]! + (1 - b2) * g[k]! * g[k]!;
      p[k] = p[k]! - rate * ((m[k]! * u1) / (Math.sqrt(v[k]!) * u2 + eps) + wd * p[k]!);
    }
  },
  emaStep(s: Float32Array, x: Float32Array, d: number, e: number): void {
    for (let k = 0; k < s.length; k++) s[k] = s[k]! * d + x[k]! * e;
  },
  addInto(sum: Float32Array, g: Float32Array): void {
    for (let k = 0; k < sum.length; k++) sum[k] = sum[k]! + g[k]!;
  },
  scaleBy(a: Float32Array, c: number): void {
    for (let k = 0; k < a.length; k++) a[k] = a[k]! * c;
  },
  sumOfSquares(a: Float32Array, start = 0): number {
    let sum = start;
    for (let k = 0; k < a.length; k++) sum += a[k]! * a[k]!;
    return sum;
  },
};
