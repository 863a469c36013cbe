/** A float32 tensor in the official-code fixtures (scripts/official-*.py): its shape and base64 little-endian bytes. */
export interface F32 { shape: number[]; f32: string }

export const floats = (o: F32): Float32Array => new Float32Array(Uint8Array.from(Buffer.from(o.f32, 'base64')).buffer);
