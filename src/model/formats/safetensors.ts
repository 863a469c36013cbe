/**
 * The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {...}}`, then the raw
 * little-endian tensor bytes. Read into float32 (F32, F16, BF16, F64 accepted), written as F32.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../util/atomic.ts';
import { fsErrorMessage } from '../../util/fs.ts';
import { bfloat16ToFloat, halfToFloat, type NamedArrays } from './tensors.ts';

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

export function parseSafetensors(bytes: Uint8Array, file: string): NamedArrays {
  if (bytes.length < 8) throw new Error(`${file}: too short for a safetensors file (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.length - 8) throw new Error(`${file}: header length ${headerLength} runs past the end of the file (truncated, or not safetensors)`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw new Error(`${file}: the header is not JSON (not a safetensors file)`);
  }
  const body = 8 + headerLength;
  const out: NamedArrays = new Map();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const size = BYTES[t.dtype];
    if (!size) throw new Error(`${file}: tensor ${name} has dtype ${t.dtype}; only floating-point weights (F32, F16, BF16, F64) can be read`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    const [begin, end] = t.data_offsets;
    if (end - begin !== count * size || body + end > bytes.length) throw new Error(`${file}: tensor ${name} (${t.shape.join('x')} ${t.dtype}) has ${end - begin} bytes at ${begin}..${end}; the file is truncated or inconsistent`);
    const data = new Float32Array(count);
    const at = body + begin;
    for (let k = 0; k < count; k++) {
      data[k] = t.dtype === 'F32' ? view.getFloat32(at + 4 * k, true)
        : t.dtype === 'F16' ? halfToFloat(view.getUint16(at + 2 * k, true))
        : t.dtype === 'BF16' ? bfloat16ToFloat(view.getUint16(at + 2 * k, true))
        : view.getFloat64(at + 8 * k, true);
    }
    out.set(name, { shape: t.shape, data });
  }
  return out;
}

export async function readSafetensors(file: string): Promise<NamedArrays> {
  const bytes = await readFile(file).catch((err: unknown) => { throw new Error(fsErrorMessage(err, file, 'a .safetensors file')); });
  return parseSafetensors(bytes, file);
}

/** Serialise float32 tensors; `metadata` goes under `__metadata__` (string values). */
export function formatSafetensors(tensors: NamedArrays, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4] };
    offset += t.data.length * 4;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8); // the body starts 8-byte aligned
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of tensors.values()) {
    for (let k = 0; k < t.data.length; k++) view.setFloat32(at + 4 * k, t.data[k]!, true);
    at += t.data.length * 4;
  }
  return out;
}

export async function writeSafetensors(file: string, tensors: NamedArrays, metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(file, formatSafetensors(tensors, metadata));
}
