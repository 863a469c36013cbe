/**
 * PyTorch checkpoints read without Python: the zip container `torch.save` writes, its pickle
 * (read by the inert reader of pickle.ts) and the raw storages beside it. Accepts the official
 * `segment/train.py` checkpoints (a dict whose `ema` or `model` is the whole pickled model,
 * usually half precision; `ema` is taken when present, as the official loaders do) and plain
 * state dicts (also under `state_dict` or `model`). Tensors come out as float32, by name.
 */
import { readFile } from 'node:fs/promises';
import { bfloat16ToFloat, halfToFloat, type NamedArrays } from './tensors.ts';
import { fsErrorMessage } from '../../util/fs.ts';
import { PyGlobal, PyObject, readPickle } from './pickle.ts';
import { isZip, zipEntries, zipRead } from './zip.ts';

const STORAGE_BYTES: Record<string, number> = {
  FloatStorage: 4, HalfStorage: 2, BFloat16Storage: 2, DoubleStorage: 8, LongStorage: 8, IntStorage: 4, ShortStorage: 2, CharStorage: 1, ByteStorage: 1, BoolStorage: 1,
};

interface Storage { type: string; key: string; numel: number }
interface TensorRef { storage: Storage; offset: number; size: number[]; stride: number[] }

export interface TorchWeights {
  tensors: NamedArrays;
  /** Where in the file the weights were found, and their precision, for the log. */
  source: string;
  dtypes: string[];
}

const isDict = (v: unknown): v is Map<unknown, unknown> => v instanceof Map;
const itemsOf = (v: unknown): Map<unknown, unknown> | null => (v instanceof Map ? v : v instanceof PyObject && v.cls.qualified === 'collections.OrderedDict' ? v.items : null);

export async function readTorchCheckpoint(file: string): Promise<TorchWeights> {
  const bytes = await readFile(file).catch((err: unknown) => { throw new Error(fsErrorMessage(err, file, 'a PyTorch checkpoint (.pt)')); });
  return parseTorchCheckpoint(bytes, file);
}

export function parseTorchCheckpoint(bytes: Uint8Array, file: string): TorchWeights {
  if (!isZip(bytes)) throw new Error(`${file}: not a zip-format PyTorch checkpoint (torch.save since PyTorch 1.6 writes zip; older files must be re-saved with a current torch)`);
  const entries = zipEntries(bytes, file);
  const pkl = [...entries.keys()].find((n) => n.endsWith('/data.pkl') || n === 'data.pkl');
  if (!pkl) throw new Error(`${file}: a zip without data.pkl, not a PyTorch checkpoint`);
  const root = pkl.slice(0, pkl.length - 'data.pkl'.length);
  const storages = new Map<string, Storage>();
  const value = readPickle(zipRead(bytes, entries.get(pkl)!, file), file, (id) => {
    const t = id as unknown[];
    if (!Array.isArray(t) || t[0] !== 'storage' || !(t[1] instanceof PyGlobal)) throw new Error(`${file}: a persistent id that is not a storage`);
    const type = t[1].name;
    if (!(type in STORAGE_BYTES)) throw new Error(`${file}: storage type ${t[1].qualified} is not supported`);
    const s = { type, key: String(t[2]), numel: Number(t[4]) };
    storages.set(s.key, s);
    return s;
  });
  const found = findStateDict(value, file);
  const tensors: NamedArrays = new Map();
  const dtypes = new Set<string>();
  const cache = new Map<string, Uint8Array>();
  for (const [name, ref] of found.tensors) {
    const { storage } = ref;
    const entry = entries.get(`${root}data/${storage.key}`);
    if (!entry) throw new Error(`${file}: storage ${storage.key} of tensor ${name} is missing from the archive (truncated?)`);
    let raw = cache.get(storage.key);
    if (!raw) { raw = zipRead(bytes, entry, file); cache.set(storage.key, raw); }
    const width = STORAGE_BYTES[storage.type]!;
    if (raw.length < storage.numel * width) throw new Error(`${file}: storage ${storage.key} has ${raw.length} bytes, ${storage.numel} x ${width} expected (truncated)`);
    dtypes.add(storage.type.replace('Storage', ''));
    tensors.set(name, { shape: ref.size, data: gather(raw, storage.type, ref) });
  }
  return { tensors, source: found.source, dtypes: [...dtypes] };
}

/** Copy a strided view of a storage into a contiguous float32 array. */
function gather(raw: Uint8Array, type: string, ref: TensorRef): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const count = ref.size.reduce((a, b) => a * b, 1);
  const out = new Float32Array(count);
  const read = (i: number): number => {
    switch (type) {
      case 'FloatStorage': return view.getFloat32(4 * i, true);
      case 'HalfStorage': return halfToFloat(view.getUint16(2 * i, true));
      case 'BFloat16Storage': return bfloat16ToFloat(view.getUint16(2 * i, true));
      case 'DoubleStorage': return view.getFloat64(8 * i, true);
      case 'LongStorage': return Number(view.getBigInt64(8 * i, true));
      case 'IntStorage': return view.getInt32(4 * i, true);
      case 'ShortStorage': return view.getInt16(2 * i, true);
      case 'CharStorage': return view.getInt8(i);
      default: return view.getUint8(i);
    }
  };
  const dims = ref.size.length;
  const index = new Array<number>(dims).fill(0);
  for (let k = 0; k < count; k++) {
    let at = ref.offset;
    for (let d = 0; d < dims; d++) at += index[d]! * ref.stride[d]!;
    out[k] = read(at);
    for (let d = dims - 1; d >= 0; d--) { if (++index[d]! < ref.size[d]!) break; index[d] = 0; }
  }
  return out;
}

function tensorRef(v: unknown): TensorRef | null {
  if (!(v instanceof PyObject)) return null;
  const q = v.cls.qualified;
  if (q === 'torch._utils._rebuild_parameter' || q === 'torch._utils._rebuild_parameter_with_state') return tensorRef(v.args[0]);
  if (q !== 'torch._utils._rebuild_tensor_v2' && q !== 'torch._utils._rebuild_tensor') return null;
  const [storage, offset, size, stride] = v.args as [Storage, number, number[], number[]];
  return { storage, offset: Number(offset), size: [...size].map(Number), stride: [...stride].map(Number) };
}

/** A pickled nn.Module's parameters and buffers under their dotted names, as `state_dict()` has them. */
function flattenModule(module: PyObject, prefix: string, out: Map<string, TensorRef>): void {
  const state = itemsOf(module.state);
  if (!state) return;
  for (const key of ['_parameters', '_buffers']) {
    for (const [name, t] of itemsOf(state.get(key)) ?? []) {
      const ref = tensorRef(t);
      if (ref) out.set(`${prefix}${String(name)}`, ref);
    }
  }
  for (const [name, child] of itemsOf(state.get('_modules')) ?? []) {
    if (child instanceof PyObject) flattenModule(child, `${prefix}${String(name)}.`, out);
  }
}

function findStateDict(value: unknown, file: string): { tensors: Map<string, TensorRef>; source: string } {
  const asStateDict = (v: unknown): Map<string, TensorRef> | null => {
    const items = itemsOf(v);
    if (!items || items.size === 0) return null;
    const out = new Map<string, TensorRef>();
    for (const [k, t] of items) {
      const ref = tensorRef(t);
      if (!ref) return null;
      out.set(String(k), ref);
    }
    return out;
  };
  const asModule = (v: unknown): Map<string, TensorRef> | null => {
    if (!(v instanceof PyObject) || !itemsOf(v.state)?.has('_modules')) return null;
    const out = new Map<string, TensorRef>();
    flattenModule(v, '', out);
    return out.size > 0 ? out : null;
  };
  const direct = asStateDict(value);
  if (direct) return { tensors: direct, source: 'state dict' };
  if (isDict(value)) {
    for (const key of ['ema', 'model', 'state_dict']) {
      const v = value.get(key);
      const found = asModule(v) ?? asStateDict(v);
      if (found) return { tensors: found, source: `"${key}" (${asModule(v) ? 'a pickled model' : 'a state dict'})` };
    }
  }
  const module = asModule(value);
  if (module) return { tensors: module, source: 'a pickled model' };
  throw new Error(`${file}: found no weights: neither a state dict nor a checkpoint with "ema", "model" or "state_dict"`);
}
