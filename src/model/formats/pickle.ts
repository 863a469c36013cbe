/**
 * A pickle reader that never executes anything: it interprets the opcodes (protocols 0-5) and
 * builds inert values. Python globals are accepted only from an allow-list of what PyTorch
 * checkpoints hold (tensor rebuilders, storage types, module classes of torch and the
 * official YOLO code, numpy scalars and arrays, OrderedDict, a bound-method `getattr`); each
 * becomes a placeholder that records its name and arguments and is never called. Any other
 * global (`posix.system`, `builtins.eval`, ...) is an error naming it.
 */

/** A Python global the pickle referred to (a class, function or constant), by name only. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string { return `${this.module}.${this.name}`; }
}

/** The result of "calling" a global: its name, its arguments and any state set on it later. */
export class PyObject {
  state: unknown = undefined;
  /** Items for dict-like objects (OrderedDict), in order. */
  readonly items = new Map<unknown, unknown>();
  readonly list: unknown[] = [];
  constructor(readonly cls: PyGlobal, readonly args: unknown[]) {}
}

/** A persistent id (`torch.save` uses them for storages). */
export class PyPersistent { constructor(readonly id: unknown) {} }

/** Python dicts keep arbitrary keys; tuples are frozen arrays tagged so. */
export type PyDict = Map<unknown, unknown>;
export class PyTuple extends Array<unknown> {}

const ALLOWED: [RegExp, string][] = [
  [/^torch\._utils\.(_rebuild_tensor|_rebuild_tensor_v2|_rebuild_parameter|_rebuild_parameter_with_state)$/, 'tensor rebuilders'],
  [/^torch\.(Float|Half|BFloat16|Double|Long|Int|Short|Char|Byte|Bool)Storage$/, 'storage types'],
  [/^torch\.(float16|float32|float64|bfloat16|int64|int32|uint8|bool|Size|device|strided|contiguous_format)$/, 'torch constants'],
  [/^torch\.nn\.modules\.[\w.]+\.\w+$/, 'torch module classes'],
  [/^torch\.nn\.parameter\.Parameter$/, 'parameters'],
  [/^torch\.optim\.[\w.]+\.\w+$/, 'optimizer classes'],
  [/^(models|utils)\.[\w.]+\.\w+$/, 'classes of the official YOLO code'],
  [/^collections\.(OrderedDict|defaultdict)$/, 'ordered dicts'],
  [/^numpy\.core\.multiarray\.(scalar|_reconstruct)$/, 'numpy scalars and arrays'],
  [/^numpy\.(dtype|ndarray)$/, 'numpy types'],
  [/^_codecs\.encode$/, 'latin-1 bytes (numpy scalars)'],
  [/^(builtins|__builtin__)\.(getattr|set|frozenset|slice|object)$/, 'builtins that checkpoints hold (never called)'],
  [/^copyreg\._reconstructor$/, 'protocol-0/1 object construction'],
  [/^argparse\.Namespace$/, 'training options'],
  [/^pathlib\.(PosixPath|WindowsPath|Path)$/, 'paths in training options'],
];

export class UnsafePickleError extends Error {}

function checkGlobal(module: string, name: string, file: string): PyGlobal {
  const q = `${module}.${name}`;
  if (!ALLOWED.some(([re]) => re.test(q))) throw new UnsafePickleError(`${file}: the pickle refers to the Python global ${q}, which a PyTorch checkpoint does not need; refused (nothing was executed)`);
  return new PyGlobal(module, name);
}

/** Interpret a pickle; `persistentLoad` turns persistent ids into values (storages). */
export function readPickle(bytes: Uint8Array, file: string, persistentLoad: (id: unknown) => unknown = (id) => new PyPersistent(id)): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let p = 0;
  const need = (n: number) => { if (p + n > bytes.length) throw new Error(`${file}: the pickle ends in the middle of an opcode (truncated)`); };
  const u8 = () => { need(1); return bytes[p++]!; };
  const u16 = () => { need(2); const v = view.getUint16(p, true); p += 2; return v; };
  const u32 = () => { need(4); const v = view.getUint32(p, true); p += 4; return v; };
  const i32 = () => { need(4); const v = view.getInt32(p, true); p += 4; return v; };
  const u64 = () => { need(8); const v = Number(view.getBigUint64(p, true)); p += 8; return v; };
  const take = (n: number) => { need(n); const b = bytes.subarray(p, p + n); p += n; return b; };
  const utf8 = (n: number) => new TextDecoder().decode(take(n));
  const line = () => { const e = bytes.indexOf(0x0a, p); if (e < 0) throw new Error(`${file}: the pickle ends inside a text opcode`); const s = new TextDecoder('latin1').decode(bytes.subarray(p, e)); p = e + 1; return s; };
  const pop = () => { if (stack.length === 0) throw new Error(`${file}: the pickle pops an empty stack (corrupt)`); return stack.pop(); };
  const popMark = () => { const m = marks.pop(); if (m === undefined) throw new Error(`${file}: the pickle has no MARK where one is needed (corrupt)`); return stack.splice(m); };
  const top = () => stack[stack.length - 1];
  const tuple = (items: unknown[]) => Object.assign(new PyTuple(), items) as PyTuple;
  const setItem = (target: unknown, k: unknown, v: unknown) => {
    if (target instanceof Map) target.set(k, v);
    else if (target instanceof PyObject) target.items.set(k, v);
    else throw new Error(`${file}: the pickle sets an item on a ${typeof target} (corrupt)`);
  };
  const append = (target: unknown, v: unknown) => {
    if (Array.isArray(target)) target.push(v);
    else if (target instanceof PyObject) target.list.push(v);
    else throw new Error(`${file}: the pickle appends to a ${typeof target} (corrupt)`);
  };
  const call = (fn: unknown, args: unknown) => {
    if (!(fn instanceof PyGlobal)) throw new Error(`${file}: the pickle calls something that is not a global (corrupt)`);
    // getattr(class, name) is how a bound method pickles: a placeholder, never looked up.
    return new PyObject(fn, Array.isArray(args) ? [...args] : []);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: u64(); break; // FRAME
      case 0x2e: return pop(); // STOP
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push(tuple([])); break; // EMPTY_TUPLE
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x74: stack.push(tuple(popMark())); break; // TUPLE
      case 0x85: stack.push(tuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(), a = pop(); stack.push(tuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(), b = pop(), a = pop(); stack.push(tuple([a, b, c])); break; } // TUPLE3
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x64: { const items = popMark(); const d = new Map(); for (let k = 0; k + 1 < items.length; k += 2) d.set(items[k], items[k + 1]); stack.push(d); break; } // DICT
      case 0x90: { const items = popMark(); const s = top() as Set<unknown>; for (const i of items) s.add(i); break; } // ADDITEMS
      case 0x91: stack.push(new Set(popMark())); break; // FROZENSET
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: { // LONG1
        const n = u8(), b = take(n);
        let v = 0n;
        for (let k = n - 1; k >= 0; k--) v = (v << 8n) | BigInt(b[k]!);
        if (n > 0 && b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(Number(v));
        break;
      }
      case 0x8b: { const n = u32(); take(n); stack.push(Number.NaN); break; } // LONG4: too large to matter here
      case 0x47: { need(8); stack.push(view.getFloat64(p, false)); p += 8; break; } // BINFLOAT (big-endian)
      case 0x58: stack.push(utf8(u32())); break; // BINUNICODE
      case 0x8c: stack.push(utf8(u8())); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8(u64())); break; // BINUNICODE8
      case 0x43: stack.push(Uint8Array.from(take(u8()))); break; // SHORT_BINBYTES
      case 0x42: stack.push(Uint8Array.from(take(u32()))); break; // BINBYTES
      case 0x8e: stack.push(Uint8Array.from(take(u64()))); break; // BINBYTES8
      case 0x96: stack.push(Uint8Array.from(take(u64()))); break; // BYTEARRAY8
      case 0x55: stack.push(new TextDecoder('latin1').decode(take(u8()))); break; // SHORT_BINSTRING
      case 0x54: stack.push(new TextDecoder('latin1').decode(take(u32()))); break; // BINSTRING
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x49: { const s = line(); stack.push(s === '01' ? true : s === '00' ? false : Number(s)); break; } // INT
      case 0x4c: stack.push(Number(line().replace(/L$/, ''))); break; // LONG
      case 0x46: stack.push(Number(line())); break; // FLOAT
      case 0x53: stack.push(line().replace(/^'|'$/g, '')); break; // STRING
      case 0x56: stack.push(line()); break; // UNICODE
      case 0x63: { const module = line(); const name = line(); stack.push(checkGlobal(module, name, file)); break; } // GLOBAL
      case 0x93: { const name = pop(), module = pop(); stack.push(checkGlobal(String(module), String(name), file)); break; } // STACK_GLOBAL
      case 0x52: { const args = pop(), fn = pop(); stack.push(call(fn, args)); break; } // REDUCE
      case 0x81: { const args = pop(), cls = pop(); stack.push(call(cls, args)); break; } // NEWOBJ
      case 0x92: { pop(); const args = pop(), cls = pop(); stack.push(call(cls, args)); break; } // NEWOBJ_EX
      case 0x62: { // BUILD
        const state = pop(), obj = top();
        if (obj instanceof PyObject) obj.state = state;
        else throw new Error(`${file}: the pickle sets state on a ${typeof obj} (corrupt)`);
        break;
      }
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x70: memo.set(Number(line()), top()); break; // PUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: case 0x67: { // BINGET, LONG_BINGET, GET
        const k = op === 0x68 ? u8() : op === 0x6a ? u32() : Number(line());
        if (!memo.has(k)) throw new Error(`${file}: the pickle reads memo ${k} before writing it (corrupt)`);
        stack.push(memo.get(k));
        break;
      }
      case 0x73: { const v = pop(), k = pop(); setItem(top(), k, v); break; } // SETITEM
      case 0x75: { const items = popMark(); for (let k = 0; k + 1 < items.length; k += 2) setItem(top(), items[k], items[k + 1]); break; } // SETITEMS
      case 0x61: { const v = pop(); append(top(), v); break; } // APPEND
      case 0x65: { const items = popMark(); for (const v of items) append(top(), v); break; } // APPENDS
      case 0x51: stack.push(persistentLoad(pop())); break; // BINPERSID
      case 0x50: stack.push(persistentLoad(line())); break; // PERSID
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      default:
        throw new Error(`${file}: pickle opcode 0x${op.toString(16)} at byte ${p - 1} is not one a checkpoint uses (corrupt or not a pickle)`);
    }
  }
}
