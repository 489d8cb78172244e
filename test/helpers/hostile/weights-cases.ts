// Hostile and broken weights files (.safetensors), given to every command that reads weights:
// `sample --checkpoint`, `export --checkpoint`, `train --init` and `verify --checkpoint`. Each
// case changes one thing of a valid file; each must be refused with the file named, and what is
// wrong with it, before any sampling, export or training work.
import { join as joinPath } from "node:path";
import type { CorpusCase } from "../corpus.ts";
import { type Broken, type Fixtures, place, quickTrain, SPECIALS, sparse } from "./fixtures.ts";
import { edited, entries, join, narrowed, split, withValues } from "./safetensors-bytes.ts";

type Command = (path: string) => string[];

export function weightsCommands(fx: Fixtures): Record<string, Command> {
  const out = (name: string) => joinPath(fx.dir, "out", name);
  return {
    sample: (p) => [
      "sample",
      fx.imageSpec,
      "--checkpoint",
      p,
      "--engine",
      "tfjs",
      "--per-class",
      "1",
      "--classes",
      "0",
      "--steps",
      "1",
      "-o",
      out("sample.png"),
    ],
    export: (p) => ["export", fx.imageSpec, "--checkpoint", p, "-o", out("export.onnx")],
    init: (p) => quickTrain(fx, "--init", p, "--data", fx.idxDir, "--force", "--out", out("init")),
    verify: (p) => ["verify", fx.onnx, "--checkpoint", p],
  };
}

function brokenFiles(fx: Fixtures): Broken[] {
  const raw = split(fx.weightsBytes);
  const [first, second] = entries(raw.header);
  const firstName = first?.[0] ?? "";
  const secondName = second?.[0] ?? "";
  const [lastName = ""] = entries(raw.header).slice(-1)[0] ?? [];
  const size = fx.weightsBytes.length;
  const cases: Broken[] = [];
  for (const s of SPECIALS) cases.push({ name: `${s.name} as the checkpoint`, make: s.make, says: s.says });
  cases.push({
    name: "a 5 GiB sparse file",
    make: (p) => sparse(p, 5 * 2 ** 30),
    says: /5 GiB, more than the 4 GiB/,
  });
  cases.push({ name: "an empty file", bytes: new Uint8Array(), says: /0 bytes, too short/ });
  for (const n of [1, 4, 7])
    cases.push({ name: `a ${n}-byte file`, bytes: fx.weightsBytes.subarray(0, n), says: /too short/ });
  for (const [label, length] of [
    ["2^64 - 1", (1n << 64n) - 1n],
    ["2^63", 1n << 63n],
    ["2^40", 1n << 40n],
    ["the file size", BigInt(size)],
    ["200 MiB", 200n << 20n],
  ] as const)
    cases.push({
      name: `a header length of ${label}`,
      bytes: join(raw.header, raw.data, length),
      says: /not a safetensors file: header length \d+ exceeds the file/,
    });
  cases.push({
    name: "a header length of 0",
    bytes: join(raw.header, raw.data, 0n),
    says: /header is not JSON/,
  });
  for (const cut of [1, 2, 10, 100])
    cases.push({
      name: `a header length ${cut} short of the JSON`,
      bytes: join(raw.header, raw.data, BigInt(JSON.stringify(raw.header).length - cut)),
      says: /header is not JSON/,
    });
  const dataStart = size - raw.data.length;
  for (const frac of [0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]) {
    const keep = Math.floor(dataStart + frac * raw.data.length);
    cases.push({
      name: `truncated ${Math.round(frac * 100)} % into the data`,
      bytes: fx.weightsBytes.subarray(0, keep),
      says: /data_offsets \[\d+, \d+\] that do not fit the file's \d+ data bytes \(truncated\?\)/,
    });
  }
  const header = (name: string, text: unknown, says: RegExp) =>
    cases.push({ name, bytes: join(text, raw.data), says });
  header(
    "a header of invalid UTF-8",
    Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString("latin1"),
    /not JSON|not UTF-8/,
  );
  cases.push({
    name: "a header of raw invalid UTF-8 bytes",
    bytes: Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0xff, 0xfe, 0x7d]), raw.data]),
    says: /not UTF-8/,
  });
  header("a header that is not JSON", "{{{{", /header is not JSON/);
  header("a header of NaN", "NaN", /header is not JSON/);
  header("a header array", [], /header is an array, not a JSON object of tensors/);
  header("a header number", 42, /header is a number/);
  header("a header string", '"weights"', /header is a string/);
  header("a header null", "null", /header is null/);
  header("a header true", "true", /header is a boolean/);
  const edit = (name: string, change: (h: Record<string, unknown>) => void, says: RegExp, exit?: number) =>
    cases.push({ name, bytes: edited(raw, change), says, ...(exit !== undefined ? { exit } : {}) });
  for (const [label, value, says] of [
    ["null", null, /__metadata__ is null; safetensors metadata is an object of strings/],
    ["an array", ["a"], /__metadata__ is an array/],
    ["a number", 7, /__metadata__ is a number/],
    ["a string", "meta", /__metadata__ is a string/],
    [
      "a number value",
      { name: 3 },
      /__metadata__\.name is a number; safetensors metadata values are strings/,
    ],
    ["a null value", { spec: null }, /__metadata__\.spec is null/],
    ["an object value", { spec: { a: 1 } }, /__metadata__\.spec is a object/],
    ["a list value", { format: ["x"] }, /__metadata__\.format is an array/],
  ] as const)
    edit(
      `__metadata__ ${label}`,
      (h) => {
        h.__metadata__ = value;
      },
      says,
    );
  const tensor = (name: string, change: (e: Record<string, unknown>) => void, says: RegExp) =>
    edit(name, (h) => change(h[firstName] as Record<string, unknown>), says);
  const replaced = (name: string, value: unknown, says: RegExp) =>
    edit(
      name,
      (h) => {
        h[firstName] = value;
      },
      says,
    );
  replaced("a tensor entry null", null, /tensor \S+ is null, not \{dtype, shape, data_offsets\}/);
  replaced("a tensor entry array", [1, 2], /is an array, not \{dtype/);
  replaced("a tensor entry string", "F32", /is a string, not \{dtype/);
  replaced("a tensor entry number", 0, /is a number, not \{dtype/);
  for (const [label, value] of [
    ["missing", undefined],
    ["F64", "F64"],
    ["lower-case f32", "f32"],
    ["float32", "float32"],
    ["a number", 4],
    ["null", null],
    ["__proto__", "__proto__"],
    ["toString", "toString"],
  ] as const)
    tensor(
      `dtype ${label}`,
      (e) => {
        e.dtype = value;
      },
      /has dtype .*, which diffit does not read \(F32, F16, BF16, I32, I64, U8\)/,
    );
  for (const [label, dtype] of [
    ["I64", "I64"],
    ["I32", "I32"],
    ["U8", "U8"],
  ] as const)
    edit(
      `an integer tensor (${label}) of the right byte size`,
      (h) => {
        const e = h[firstName] as { dtype: string; shape: number[]; data_offsets: number[] };
        const n = ((e.data_offsets[1] ?? 0) - (e.data_offsets[0] ?? 0)) / { I64: 8, I32: 4, U8: 1 }[dtype];
        e.dtype = dtype;
        e.shape = [n];
      },
      new RegExp(`dtype ${dtype}, expected a float type`),
    );
  for (const [label, value] of [
    ["missing", undefined],
    ["a string", "[2, 3]"],
    ["negative", [-1]],
    ["fractional", [1.5]],
    ["of strings", ["2"]],
    ["of null", [null]],
    ["huge", [2 ** 60]],
    ["an object", { 0: 1 }],
  ] as const)
    tensor(
      `shape ${label}`,
      (e) => {
        e.shape = value;
      },
      /has shape .*, not a list of non-negative integers/,
    );
  tensor(
    "a shape whose bytes overflow the offsets",
    (e) => {
      e.shape = [2 ** 26, 2 ** 26];
    },
    /hold \d+; re-save/,
  );
  tensor(
    "one more dimension",
    (e) => {
      e.shape = [...(e.shape as number[]), 2];
    },
    /\(\d+ bytes\) but data_offsets \[\d+, \d+\] hold \d+/,
  );
  for (const [label, value] of [
    ["missing", undefined],
    ["one number", [0]],
    ["three numbers", [0, 4, 8]],
    ["negative", [-4, 0]],
    ["strings", ["0", "4"]],
    ["fractional", [0.5, 4.5]],
    ["huge", [0, 1e20]],
    ["an object", { begin: 0, end: 4 }],
  ] as const)
    tensor(
      `data_offsets ${label}`,
      (e) => {
        e.data_offsets = value;
      },
      /has data_offsets .*, not \[begin, end\] byte offsets/,
    );
  tensor(
    "data_offsets reversed",
    (e) => {
      const [b, en] = e.data_offsets as number[];
      e.data_offsets = [en, b];
    },
    /that do not fit/,
  );
  tensor(
    "data_offsets past the end",
    (e) => {
      e.data_offsets = [raw.data.length, raw.data.length + 64];
    },
    /that do not fit/,
  );
  tensor(
    "data_offsets one byte short",
    (e) => {
      const [b = 0, en = 0] = e.data_offsets as number[];
      e.data_offsets = [b, en - 1];
    },
    /but data_offsets \[\d+, \d+\] hold \d+/,
  );
  edit(
    "two tensors sharing bytes",
    (h) => {
      const a = h[firstName] as { data_offsets: number[]; shape: number[]; dtype: string };
      h[secondName] = { ...a, shape: [...a.shape] };
    },
    /tensors \S+ \[\d+, \d+\] and \S+ \[\d+, \d+\] overlap in the file/,
  );
  edit(
    "two tensors overlapping by half",
    (h) => {
      const a = h[firstName] as { data_offsets: number[] };
      const b = h[secondName] as { data_offsets: number[]; shape: number[] };
      const [s = 0, e = 0] = a.data_offsets;
      const len = (b.data_offsets[1] ?? 0) - (b.data_offsets[0] ?? 0);
      const begin = Math.floor((s + e) / 8) * 4;
      b.data_offsets = [begin, begin + len];
    },
    /overlap in the file/,
  );
  // Well-formed files that do not hold this spec's weights.
  edit(
    "an empty header",
    (h) => {
      for (const k of Object.keys(h)) delete h[k];
    },
    /does not fit the spec; it holds no tensors at all/,
  );
  edit(
    "a missing tensor",
    (h) => {
      delete h[firstName];
    },
    new RegExp(`missing ${firstName.replaceAll(".", "\\.")} \\[`),
  );
  edit(
    "an extra tensor",
    (h) => {
      h["blocks.99.extra"] = { dtype: "F32", shape: [0], data_offsets: [0, 0] };
    },
    /unexpected blocks\.99\.extra/,
  );
  edit(
    "a renamed tensor",
    (h) => {
      h[`module.${firstName}`] = h[firstName];
      delete h[firstName];
    },
    /missing .*unexpected module\./s,
  );
  edit(
    "a transposed matrix",
    (h) => {
      const e = entries(h).find(([, v]) => v.shape.length === 2 && v.shape[0] !== v.shape[1]);
      if (e) e[1].shape = [...e[1].shape].reverse();
    },
    /shape \[\d+, \d+\], spec needs \[\d+, \d+\]/,
  );
  edit(
    "a flattened tensor",
    (h) => {
      const e = entries(h).find(([, v]) => v.shape.length >= 2);
      if (e) e[1].shape = [e[1].shape.reduce((x, y) => x * y, 1)];
    },
    /shape \[\d+\], spec needs \[/,
  );
  edit(
    "weights written for another spec",
    (h) => {
      (h.__metadata__ as Record<string, string>).name = "someone-elses-model";
      delete h[firstName];
    },
    /written for spec someone-elses-model, not hostile-image/,
  );
  edit(
    "a training state given as weights",
    (h) => {
      (h.__metadata__ as Record<string, string>).format = "diffit-train-state/1";
      for (const [k, v] of entries(h)) {
        h[`model/${k}`] = v;
        delete h[k];
      }
    },
    /it is a training state \(for train --resume\): pass the EMA weights beside it \(ema\.safetensors\)/,
  );
  // Non-finite values: refused by name, never blamed on the learning rate.
  const values = (name: string, tensorName: string, v: (i: number, n: number) => number, count: RegExp) =>
    cases.push({ name, bytes: withValues(raw, tensorName, v), says: count });
  const nonFinite = (t: string) =>
    new RegExp(`holds non-finite weights: ${t.replaceAll(".", "\\.")} has \\d+ NaN or infinite`);
  values("one NaN in the first tensor", firstName, (i) => (i === 0 ? Number.NaN : 0.1), nonFinite(firstName));
  values("all NaN in the first tensor", firstName, () => Number.NaN, nonFinite(firstName));
  values(
    "+Inf in the first tensor",
    firstName,
    (i, n) => (i === n - 1 ? Number.POSITIVE_INFINITY : 0),
    nonFinite(firstName),
  );
  values("-Inf in the last tensor", lastName, () => Number.NEGATIVE_INFINITY, nonFinite(lastName));
  values("a NaN with a payload", secondName, (i) => (i === 1 ? Number.NaN : 1), nonFinite(secondName));
  values("float32 overflow (3.4e39 is Inf)", secondName, () => 3.4e39, nonFinite(secondName));
  cases.push({
    name: "NaN in a float16 file",
    bytes: narrowed(split(withValues(raw, firstName, () => Number.NaN)), "F16"),
    says: nonFinite(firstName),
  });
  cases.push({
    name: "Inf in a bfloat16 file",
    bytes: narrowed(split(withValues(raw, firstName, () => Number.POSITIVE_INFINITY)), "BF16"),
    says: nonFinite(firstName),
  });
  // Other formats given as weights.
  cases.push({
    name: "an ONNX model as the checkpoint",
    bytes: fx.onnxBytes,
    says: /not a safetensors file|header/,
  });
  cases.push({
    name: "a spec as the checkpoint",
    bytes: Buffer.from(JSON.stringify({ family: "image" })),
    says: /JSON text \(a spec\?\)/,
  });
  cases.push({
    name: "a zip as the checkpoint",
    bytes: Buffer.concat([Buffer.from("PK\x03\x04"), Buffer.alloc(64)]),
    says: /zip archive.*diffit import/,
  });
  cases.push({
    name: "a PNG as the checkpoint",
    bytes: Buffer.from("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "latin1"),
    says: /it is a PNG image/,
  });
  cases.push({
    name: "text as the checkpoint",
    bytes: Buffer.from("these are not the weights you are looking for\n"),
    says: /not a safetensors file/,
  });
  return cases;
}

/** Every broken file, through the commands in turn; non-finite weights through all four. */
export function weightsCases(fx: Fixtures): CorpusCase[] {
  const commands = weightsCommands(fx);
  const names = Object.keys(commands);
  const cases: CorpusCase[] = [];
  brokenFiles(fx).forEach((b, i) => {
    const path = place(fx, `weights/case-${i}.safetensors`, b);
    const every = /non-finite/.test(b.says.source) ? names : [names[i % names.length] ?? "sample"];
    for (const c of every) {
      const command = commands[c];
      if (!command) continue;
      cases.push({
        name: `weights: ${b.name} (${c})`,
        args: command(path),
        exit: b.exit ?? 1,
        expect: [
          path,
          b.says,
          ...(/non-finite/.test(b.says.source)
            ? [/use a checkpoint written before that, or train again/]
            : []),
        ],
      });
    }
  });
  return cases;
}

/** Valid files that must still load: float32 as written, float16 and bfloat16 (widened, noted). */
export function validWeightsCases(fx: Fixtures): CorpusCase[] {
  const raw = split(fx.weightsBytes);
  const commands = weightsCommands(fx);
  const export_ = commands.export ?? ((p: string) => [p]);
  const f16 = fx.put("weights/valid-f16.safetensors", narrowed(raw, "F16"));
  const bf16 = fx.put("weights/valid-bf16.safetensors", narrowed(raw, "BF16"));
  return [
    {
      name: "weights: valid float32 (export)",
      args: export_(fx.weights),
      exit: 0,
      expect: [/✓ hostile-image/],
    },
    {
      name: "weights: valid float16 (export)",
      args: export_(f16),
      exit: 0,
      expect: [/F16 tensor\(s\); widened to float32/],
    },
    {
      name: "weights: valid bfloat16 (export)",
      args: export_(bf16),
      exit: 0,
      expect: [/BF16 tensor\(s\); widened to float32/],
    },
  ];
}
