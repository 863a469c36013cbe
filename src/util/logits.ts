/** Scalar helpers on logits, for the loops that run over plain arrays (decoding, the loss). */

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Binary cross-entropy of a logit against a target in [0, 1], the numerically stable form. */
export const bceOfLogit = (x: number, t: number): number => Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));
