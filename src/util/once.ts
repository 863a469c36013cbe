/** `f`, called at most once, when first needed. */
export function once<T>(f: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= f());
}
