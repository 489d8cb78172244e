// A Python pickle parser that never executes anything. PyTorch checkpoints are pickles, and an
// ordinary unpickler runs whatever callable the file names (os.system included), so this reader
// interprets the opcodes as data only: containers and scalars are built here, and every opcode
// that would import or call something (GLOBAL, STACK_GLOBAL, REDUCE, BUILD, BINPERSID) goes to
// hooks that decide, per callable, whether it is a known-harmless constructor. Any opcode not in
// the table below is refused, with its name and byte offset.

export class PickleError extends Error {
  override name = "PickleError";
}

export interface PickleBytes {
  readonly kind: "bytes";
  readonly data: Uint8Array;
}
export interface PickleTuple<X> {
  readonly kind: "tuple";
  readonly items: readonly PickleValue<X>[];
}
export interface PickleList<X> {
  readonly kind: "list";
  readonly items: PickleValue<X>[];
}
/** Dict keys are restricted to scalars: a state_dict's keys are strings, an optimizer's ints. */
export type PickleKey = string | number | bigint | boolean | null;
export interface PickleDict<X> {
  readonly kind: "dict";
  readonly entries: Map<PickleKey, PickleValue<X>>;
  /** Built by collections.OrderedDict rather than a dict literal. */
  readonly ordered: boolean;
}

/** A parsed value; X is what the hooks produce (global references, storages, tensors). */
export type PickleValue<X> =
  | null
  | boolean
  | number
  | bigint
  | string
  | PickleBytes
  | PickleTuple<X>
  | PickleList<X>
  | PickleDict<X>
  | X;

/** The only points where a pickle asks for code; each hook either returns data or throws. */
export interface PickleHooks<X> {
  global(module: string, name: string): PickleValue<X>;
  reduce(callable: PickleValue<X>, args: readonly PickleValue<X>[]): PickleValue<X>;
  build(target: PickleValue<X>, state: PickleValue<X>): PickleValue<X>;
  persistentLoad(pid: PickleValue<X>): PickleValue<X>;
}

/** Opcode names, for error messages about opcodes this reader refuses. */
const OPCODE_NAMES: Record<number, string> = {
  40: "MARK",
  46: "STOP",
  48: "POP",
  49: "POP_MARK",
  50: "DUP",
  70: "FLOAT",
  73: "INT",
  74: "BININT",
  75: "BININT1",
  76: "LONG",
  77: "BININT2",
  78: "NONE",
  80: "PERSID",
  81: "BINPERSID",
  82: "REDUCE",
  83: "STRING",
  84: "BINSTRING",
  85: "SHORT_BINSTRING",
  86: "UNICODE",
  88: "BINUNICODE",
  97: "APPEND",
  98: "BUILD",
  99: "GLOBAL",
  100: "DICT",
  125: "EMPTY_DICT",
  101: "APPENDS",
  103: "GET",
  104: "BINGET",
  105: "INST",
  106: "LONG_BINGET",
  108: "LIST",
  93: "EMPTY_LIST",
  111: "OBJ",
  112: "PUT",
  113: "BINPUT",
  114: "LONG_BINPUT",
  115: "SETITEM",
  116: "TUPLE",
  41: "EMPTY_TUPLE",
  117: "SETITEMS",
  71: "BINFLOAT",
  128: "PROTO",
  129: "NEWOBJ",
  130: "EXT1",
  131: "EXT2",
  132: "EXT4",
  133: "TUPLE1",
  134: "TUPLE2",
  135: "TUPLE3",
  136: "NEWTRUE",
  137: "NEWFALSE",
  138: "LONG1",
  139: "LONG4",
  66: "BINBYTES",
  67: "SHORT_BINBYTES",
  140: "SHORT_BINUNICODE",
  141: "BINUNICODE8",
  142: "BINBYTES8",
  143: "EMPTY_SET",
  144: "ADDITEMS",
  145: "FROZENSET",
  146: "NEWOBJ_EX",
  147: "STACK_GLOBAL",
  148: "MEMOIZE",
  149: "FRAME",
  150: "BYTEARRAY8",
  151: "NEXT_BUFFER",
  152: "READONLY_BUFFER",
};

export const opcodeName = (op: number): string =>
  `${OPCODE_NAMES[op] ?? "unknown opcode"} (0x${op.toString(16).padStart(2, "0")})`;

const MARK = Symbol("mark");
type Slot<X> = PickleValue<X> | typeof MARK;

const isKey = (v: unknown): v is PickleKey =>
  v === null || ["string", "number", "bigint", "boolean"].includes(typeof v);

function describe(v: unknown): string {
  if (v === null) return "None";
  if (typeof v === "object" && "kind" in v) return String(v.kind);
  return typeof v;
}

/**
 * Parses one pickle (protocols 2 to 5, binary opcodes only: torch.save writes protocol 2) into
 * a value tree. `source` names the data in errors.
 */
export function readPickle<X>(data: Uint8Array, hooks: PickleHooks<X>, source = "pickle"): PickleValue<X> {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const text = new TextDecoder("utf-8", { fatal: true });
  const latin1 = new TextDecoder("latin1");
  const stack: Slot<X>[] = [];
  const memo = new Map<number, PickleValue<X>>();
  let pos = 0;

  const fail = (at: number, message: string): never => {
    throw new PickleError(`${source}: ${message} (byte ${at})`);
  };
  const need = (n: number, at: number) => {
    if (n < 0 || pos + n > data.byteLength) fail(at, "truncated pickle");
  };
  const u8 = (at: number) => {
    need(1, at);
    return data[pos++] as number;
  };
  const u16 = (at: number) => {
    need(2, at);
    pos += 2;
    return view.getUint16(pos - 2, true);
  };
  const u32 = (at: number) => {
    need(4, at);
    pos += 4;
    return view.getUint32(pos - 4, true);
  };
  const u64 = (at: number) => {
    need(8, at);
    pos += 8;
    const v = view.getBigUint64(pos - 8, true);
    if (v > BigInt(data.byteLength)) fail(at, `length ${v} exceeds the pickle`);
    return Number(v);
  };
  const bytes = (n: number, at: number) => {
    need(n, at);
    pos += n;
    return data.subarray(pos - n, pos);
  };
  const line = (at: number) => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) fail(at, "unterminated text argument");
    const s = latin1.decode(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const utf8 = (b: Uint8Array, at: number) => {
    try {
      return text.decode(b);
    } catch {
      return fail(at, "invalid UTF-8 in a string");
    }
  };
  const pop = (at: number): PickleValue<X> => {
    const v = stack.pop();
    if (v === undefined || v === MARK) return fail(at, "stack underflow");
    return v;
  };
  const top = (at: number): PickleValue<X> => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) return fail(at, "stack underflow");
    return v;
  };
  /** Pops everything above the topmost MARK, and the MARK. */
  const popMark = (at: number): PickleValue<X>[] => {
    const m = stack.lastIndexOf(MARK);
    if (m < 0) fail(at, "no MARK on the stack");
    const items = stack.splice(m) as Slot<X>[];
    items.shift();
    return items as PickleValue<X>[];
  };
  const long = (b: Uint8Array): number | bigint => {
    // Little-endian two's complement, as LONG1/LONG4 store it.
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i] as number);
    if (b.length > 0 && ((b[b.length - 1] as number) & 0x80) !== 0) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const setItems = (dict: PickleValue<X>, pairs: PickleValue<X>[], at: number) => {
    if (typeof dict !== "object" || dict === null || !("kind" in dict) || dict.kind !== "dict")
      return fail(at, `SETITEM(S) on a ${describe(dict)}, not a dict`);
    const d = dict as PickleDict<X>;
    if (pairs.length % 2) fail(at, "SETITEMS with an odd number of items");
    for (let i = 0; i < pairs.length; i += 2) {
      const k = pairs[i];
      if (!isKey(k)) return fail(at, `dict key of kind ${describe(k)} is not supported`);
      d.entries.set(k, pairs[i + 1] as PickleValue<X>);
    }
  };
  const append = (list: PickleValue<X>, items: PickleValue<X>[], at: number) => {
    if (typeof list !== "object" || list === null || !("kind" in list) || list.kind !== "list")
      return fail(at, `APPEND(S) on a ${describe(list)}, not a list`);
    (list as PickleList<X>).items.push(...items);
  };
  const tuple = (items: PickleValue<X>[]): PickleTuple<X> => ({ kind: "tuple", items });
  const put = (index: number, at: number) => {
    memo.set(index, top(at));
  };
  /** Runs a hook; its refusals get the source and byte offset like the reader's own errors. */
  const call = (at: number, hook: () => PickleValue<X>): PickleValue<X> => {
    try {
      return hook();
    } catch (e) {
      if (e instanceof PickleError) return fail(at, e.message);
      throw e;
    }
  };
  const get = (index: number, at: number) => {
    const v = memo.get(index);
    if (v === undefined) fail(at, `memo entry ${index} read before it was written`);
    stack.push(v as PickleValue<X>);
  };

  while (pos < data.byteLength) {
    const at = pos;
    const op = data[pos++] as number;
    switch (op) {
      case 0x80: {
        const protocol = u8(at);
        if (protocol > 5) fail(at, `pickle protocol ${protocol} is newer than 5`);
        break;
      }
      case 0x95: // FRAME: a framing hint for streaming readers; the data follows inline.
        u64(at);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) fail(at, `STOP with ${stack.length} values on the stack`);
        return pop(at);
      case 0x28:
        stack.push(MARK);
        break;
      case 0x30:
        pop(at);
        break;
      case 0x31:
        popMark(at);
        break;
      case 0x32:
        stack.push(top(at));
        break;
      case 0x4e:
        stack.push(null);
        break;
      case 0x88:
        stack.push(true);
        break;
      case 0x89:
        stack.push(false);
        break;
      case 0x4a:
        need(4, at);
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b:
        stack.push(u8(at));
        break;
      case 0x4d:
        stack.push(u16(at));
        break;
      case 0x8a:
      case 0x8b: {
        // Sizes, steps and seeds fit in a few bytes; a long integer is refused rather than
        // decoded (decoding a megabyte-long one would take quadratic time).
        const n = op === 0x8a ? u8(at) : u32(at);
        if (n > 16) fail(at, `a ${n}-byte integer is longer than a checkpoint needs`);
        stack.push(long(bytes(n, at)));
        break;
      }
      case 0x47:
        need(8, at);
        stack.push(view.getFloat64(pos, false)); // BINFLOAT is big-endian
        pos += 8;
        break;
      case 0x58:
        stack.push(utf8(bytes(u32(at), at), at));
        break;
      case 0x8c:
        stack.push(utf8(bytes(u8(at), at), at));
        break;
      case 0x8d:
        stack.push(utf8(bytes(u64(at), at), at));
        break;
      case 0x55: // SHORT_BINSTRING and BINSTRING: Python 2 str, read as Latin-1 as Python 3 does.
        stack.push(latin1.decode(bytes(u8(at), at)));
        break;
      case 0x54:
        stack.push(latin1.decode(bytes(u32(at), at)));
        break;
      case 0x43:
        stack.push({ kind: "bytes", data: bytes(u8(at), at) });
        break;
      case 0x42:
        stack.push({ kind: "bytes", data: bytes(u32(at), at) });
        break;
      case 0x8e:
        stack.push({ kind: "bytes", data: bytes(u64(at), at) });
        break;
      case 0x29:
        stack.push(tuple([]));
        break;
      case 0x74:
        stack.push(tuple(popMark(at)));
        break;
      case 0x85:
      case 0x86:
      case 0x87: {
        const n = op - 0x84;
        const items: PickleValue<X>[] = [];
        for (let i = 0; i < n; i++) items.unshift(pop(at));
        stack.push(tuple(items));
        break;
      }
      case 0x5d:
        stack.push({ kind: "list", items: [] });
        break;
      case 0x6c:
        stack.push({ kind: "list", items: popMark(at) });
        break;
      case 0x61: {
        const v = pop(at);
        append(top(at), [v], at);
        break;
      }
      case 0x65: {
        const items = popMark(at);
        append(top(at), items, at);
        break;
      }
      case 0x7d:
        stack.push({ kind: "dict", entries: new Map(), ordered: false });
        break;
      case 0x64: {
        const d: PickleDict<X> = { kind: "dict", entries: new Map(), ordered: false };
        setItems(d, popMark(at), at);
        stack.push(d);
        break;
      }
      case 0x73: {
        const v = pop(at);
        const k = pop(at);
        setItems(top(at), [k, v], at);
        break;
      }
      case 0x75: {
        const pairs = popMark(at);
        setItems(top(at), pairs, at);
        break;
      }
      case 0x71:
        put(u8(at), at);
        break;
      case 0x72:
        put(u32(at), at);
        break;
      case 0x94:
        put(memo.size, at);
        break;
      case 0x68:
        get(u8(at), at);
        break;
      case 0x6a:
        get(u32(at), at);
        break;
      case 0x63: {
        const module = line(at);
        const name = line(at);
        stack.push(call(at, () => hooks.global(module, name)));
        break;
      }
      case 0x93: {
        const name = pop(at);
        const module = pop(at);
        if (typeof module !== "string" || typeof name !== "string")
          fail(at, "STACK_GLOBAL needs two strings");
        stack.push(call(at, () => hooks.global(module as string, name as string)));
        break;
      }
      case 0x52: {
        const args = pop(at);
        const callable = pop(at);
        if (typeof args !== "object" || args === null || !("kind" in args) || args.kind !== "tuple")
          return fail(at, `REDUCE with ${describe(args)} arguments, not a tuple`);
        stack.push(call(at, () => hooks.reduce(callable, (args as PickleTuple<X>).items)));
        break;
      }
      case 0x62: {
        const state = pop(at);
        const target = pop(at);
        stack.push(call(at, () => hooks.build(target, state)));
        break;
      }
      case 0x51: {
        const pid = pop(at);
        stack.push(call(at, () => hooks.persistentLoad(pid)));
        break;
      }
      default:
        fail(at, `${opcodeName(op)} is not accepted: this reader parses state_dict pickles only`);
    }
  }
  return fail(pos, "no STOP opcode");
}
