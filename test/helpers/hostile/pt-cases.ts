// Hostile and broken torch.save zips (.pt), given to `diffit import`: damaged zips, zip
// directories that lie about sizes, pickles that name code to run or are malformed, storages
// missing or short, views past their storage. The pickle is parsed, never executed: each must be
// refused with the file named, and a valid file must import.
import { join as joinPath } from "node:path";
import type { CorpusCase } from "../corpus.ts";
import { randomStateDict, SMALL_CONFIG } from "../official-diffit.ts";
import {
  contiguousStrides,
  global,
  orderedDict,
  type PyValue,
  type Storage,
  tensorRef,
  torchZip,
  tuple,
  writePickle,
} from "../pickle-writer.ts";
import { type Broken, type Fixtures, place, SPECIALS, sparse } from "./fixtures.ts";

const SPEC = "test/fixtures/checkpoint-import/latent-small.json";

/** The official state_dict of the test-size latent spec, as torch.save writes it. */
function validParts(): { pickle: Uint8Array; storages: Map<string, Storage>; root: PyValue } {
  const sd = randomStateDict(SMALL_CONFIG, 3);
  const storages = new Map<string, Storage>();
  const entries: [PyValue, PyValue][] = [];
  for (const [name, t] of sd) {
    const bytes =
      t.dtype === "I64"
        ? new Uint8Array(BigInt64Array.from(t.values, (x) => BigInt(x)).buffer)
        : new Uint8Array(Float32Array.from(t.values).buffer);
    const s: Storage = { dtype: t.dtype, bytes };
    const key = String(storages.size);
    storages.set(key, s);
    entries.push([name, tensorRef(key, s, 0, t.shape, contiguousStrides(t.shape))]);
  }
  const root = orderedDict(entries);
  return { pickle: writePickle(root), storages, root };
}

/** Sets a central-directory field (and the local header's) of the entry named `name`. */
function patchZip(
  zip: Uint8Array,
  name: string,
  field: "method" | "originalSize",
  value: number,
): Uint8Array {
  const b = Buffer.from(zip);
  const at = { method: [10, 8], originalSize: [24, 22] }[field];
  for (let i = 0; i + 46 < b.length; i++) {
    const central = b.readUInt32LE(i) === 0x02014b50;
    const local = b.readUInt32LE(i) === 0x04034b50;
    if (!central && !local) continue;
    const nameAt = central ? 46 : 30;
    const len = b.readUInt16LE(i + (central ? 28 : 26));
    if (b.toString("latin1", i + nameAt, i + nameAt + len) !== name) continue;
    const off = (central ? at[0] : at[1]) ?? 0;
    if (field === "method") b.writeUInt16LE(value, i + off);
    else b.writeUInt32LE(value >>> 0, i + off);
  }
  return b;
}

function brokenZips(): Broken[] {
  const { pickle, storages } = validParts();
  const valid = torchZip(pickle, storages);
  const cases: Broken[] = SPECIALS.map((s) => ({
    name: `${s.name} as the checkpoint`,
    make: s.make,
    says: s.says,
  }));
  cases.push({
    name: "a 5 GiB sparse file",
    make: (p) => sparse(p, 5 * 2 ** 30),
    says: /5 GiB, more than the 4 GiB/,
  });
  cases.push({ name: "only the zip magic", bytes: Buffer.from("PK\x03\x04"), says: /unreadable zip/ });
  for (const frac of [0.1, 0.5, 0.9, 0.999])
    cases.push({
      name: `a zip truncated at ${frac * 100} %`,
      bytes: valid.subarray(0, Math.floor(frac * valid.length)),
      says: /unreadable zip|not a torch\.save zip/,
    });
  const eocd = Buffer.from(valid);
  eocd.writeUInt16LE(0xffff, eocd.length - 22 + 8);
  eocd.writeUInt16LE(0xffff, eocd.length - 22 + 10);
  cases.push({
    name: "a directory claiming 65535 members",
    bytes: eocd,
    says: /lists more than 20000 members/,
  });
  cases.push({
    name: "data.pkl declaring 3 GiB unpacked",
    bytes: patchZip(
      patchZip(valid, "archive/data.pkl", "method", 8),
      "archive/data.pkl",
      "originalSize",
      3 * 2 ** 30,
    ),
    says: /zip member archive\/data\.pkl declares 3 GiB unpacked, more than the 256 MiB/,
  });
  cases.push({
    name: "a storage declaring more than deflate can give",
    bytes: patchZip(
      patchZip(valid, "archive/data/0", "method", 8),
      "archive/data/0",
      "originalSize",
      2 ** 31,
    ),
    says: /zip member archive\/data\/0 declares \d+ bytes from \d+ compressed/,
  });
  cases.push({
    name: "an unknown compression method",
    bytes: patchZip(valid, "archive/data.pkl", "method", 99),
    says: /unreadable zip/,
  });
  const files = (name: string, pkl: Uint8Array, st: Map<string, Storage>, says: RegExp) =>
    cases.push({ name, bytes: torchZip(pkl, st), says });
  files(
    "a storage missing",
    pickle,
    new Map([...storages].slice(1)),
    /the pickle names storage 0, but archive\/data\/0 is missing/,
  );
  const short = new Map(storages);
  const first = storages.get("0");
  if (first) short.set("0", { ...first, bytes: first.bytes.subarray(0, 4) });
  files("a storage too short", pickle, short, /storage 0 has 4 bytes, the pickle says/);
  const pkl = (name: string, value: PyValue, says: RegExp) => files(name, writePickle(value), storages, says);
  // Well-formed pickles of something else: the caller chose the wrong file or --key (usage, 2).
  const others: [string, PyValue][] = [
    ["a list instead of a state_dict", { py: "list", items: [1, 2] }],
    ["an empty dict", orderedDict([])],
  ];
  for (const [name, value] of others)
    cases.push({
      name,
      bytes: torchZip(writePickle(value), storages),
      says: /is not a state_dict of tensors/,
      exit: 2,
    });
  const call = (module: string, fn: string, ...args: PyValue[]): PyValue => ({
    py: "reduce",
    callable: global(module, fn),
    args,
  });
  pkl(
    "os.system in the pickle",
    call("os", "system", "touch /tmp/pwned"),
    /references the global os\.system, which a state_dict never needs: refused/,
  );
  pkl("builtins.eval in the pickle", call("builtins", "eval", "1+1"), /global builtins\.eval/);
  pkl("subprocess.Popen in the pickle", call("subprocess", "Popen", tuple("sh")), /global subprocess\.Popen/);
  pkl("torch.load in the pickle", call("torch", "load", "x"), /global torch\.load/);
  pkl(
    "a view past its storage",
    orderedDict([
      ["w", tensorRef("0", first ?? { dtype: "F32", bytes: new Uint8Array(4) }, 10 ** 6, [2], [1])],
    ]),
    /reads past storage 0/,
  );
  pkl(
    "a storage of doubles",
    orderedDict([
      [
        "w",
        {
          py: "reduce",
          callable: global("torch._utils", "_rebuild_tensor_v2"),
          args: [
            { py: "persid", pid: tuple("storage", global("torch", "DoubleStorage"), "0", "cpu", 1) },
            0,
            tuple(1),
            tuple(1),
            false,
            orderedDict([]),
          ],
        },
      ],
    ]),
    /DoubleStorage/,
  );
  const raw = (name: string, bytes: number[], says: RegExp) =>
    files(name, Uint8Array.from(bytes), storages, says);
  raw("an empty pickle", [], /pickle|data\.pkl/);
  raw("a pickle without STOP", [0x80, 0x02, 0x7d], /pickle|data\.pkl/);
  raw("an unknown opcode", [0x80, 0x02, 0xff, 0x2e], /pickle|opcode/);
  raw(
    "a string longer than the pickle",
    [0x80, 0x02, 0x58, 0xff, 0xff, 0xff, 0x7f, 0x2e],
    /truncated pickle|exceeds the pickle/,
  );
  raw("a memo read of nothing", [0x80, 0x02, 0x6a, 0xff, 0xff, 0xff, 0x7f, 0x2e], /pickle|memo/);
  raw(
    "a protocol-5 frame",
    [0x80, 0x05, 0x95, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x2e],
    /pickle|opcode|FRAME/,
  );
  cases.push({
    name: "a legacy (pre-1.6) torch.save file",
    bytes: Uint8Array.from([0x80, 0x02, 0x8a, 0x0a]),
    says: /legacy \(pre-1\.6\) torch\.save file/,
  });
  const bigEndian = torchZip(pickle, storages);
  cases.push({
    name: "big-endian storages",
    bytes: patchByteorder(bigEndian),
    says: /big-endian storages are not supported/,
  });
  return cases;
}

/** The zip with its byteorder file saying "big" (same length as "little", padded). */
function patchByteorder(zip: Uint8Array): Uint8Array {
  const b = Buffer.from(zip);
  const at = b.indexOf(Buffer.from("little"));
  if (at >= 0) b.write("big   ", at, "latin1");
  // The stored entry's CRC no longer matches; fflate does not check it on unzip.
  return b;
}

export function ptCases(fx: Fixtures): CorpusCase[] {
  const out = joinPath(fx.dir, "out", "imported.safetensors");
  const cases: CorpusCase[] = brokenZips().map((b, i) => {
    const path = place(fx, `pt/case-${i}.pt`, b);
    return {
      name: `pt: ${b.name}`,
      args: ["import", path, "--spec", SPEC, "-o", out],
      exit: b.exit ?? 1,
      expect: [path, b.says],
    };
  });
  const { pickle, storages } = validParts();
  const valid = fx.put("pt/valid.pt", torchZip(pickle, storages));
  cases.push({
    name: "pt: a valid state_dict imports",
    args: ["import", valid, "--spec", SPEC, "-o", out],
    exit: 0,
    expect: [/✓ .*valid\.pt \(torch-zip/],
  });
  return cases;
}
