// Hostile and broken ONNX files, given to every command that opens one: `sample --model`,
// `verify`, `eval --model`, `sample --vae-decoder` and `eval --features`. Damaged files, other
// formats, diffit.spec metadata that is not JSON or names another shape, inputs and outputs of
// another name, type or shape, external data outside the model's folder. Each must be refused
// with the file named and what is wrong, before onnxruntime's own error.
import { mkdirSync } from "node:fs";
import { join as joinPath } from "node:path";
import {
  DataType,
  type ModelProto,
  onnx,
  type ValueInfoProto,
} from "../../../src/compiler/emit/onnx/proto.ts";
import { Rng } from "../../../src/runtime/random.ts";
import type { CorpusCase } from "../corpus.ts";
import { type Fixtures, place, SPECIALS, sparse } from "./fixtures.ts";
import { type BrokenModel, mutate, signatureCases, tensorInfo } from "./onnx-models.ts";

type Command = (path: string) => string[];

function commands(fx: Fixtures): Record<string, Command> {
  const out = (name: string) => joinPath(fx.dir, "out", name);
  const few = ["--per-class", "1", "--classes", "0", "--steps", "1"];
  return {
    "sample --model": (p) => ["sample", "--model", p, ...few, "-o", out("onnx.png")],
    verify: (p) => ["verify", p, "--checkpoint", fx.weights],
    "eval --model": (p) => ["eval", "--model", p, "-n", "2"],
    "--vae-decoder": (p) => [
      "sample",
      fx.latentSpec,
      "--checkpoint",
      fx.latentWeights,
      "--vae-decoder",
      p,
      "--engine",
      "tfjs",
      ...few,
      "-o",
      out("vae.png"),
    ],
    "--features": (p) => ["eval", fx.evalSpec, "--checkpoint", fx.weights, "--features", p, "-n", "2"],
  };
}

const SPEC_READERS = ["sample --model", "verify", "eval --model"];

function fileCases(fx: Fixtures): BrokenModel[] {
  const cases: BrokenModel[] = SPECIALS.map((s) => ({
    name: `${s.name} as the model`,
    make: s.make,
    says: s.says,
  }));
  const v = fx.onnxBytes;
  cases.push({
    name: "a 3 GiB sparse file",
    make: (p) => sparse(p, 3 * 2 ** 30),
    says: /3 GiB, more than the 2 GiB/,
  });
  cases.push({
    name: "an empty file",
    bytes: new Uint8Array(),
    says: /is not an ONNX model: it has no graph/,
  });
  for (const frac of [0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    cases.push({
      name: `truncated at ${frac * 100} %`,
      bytes: v.subarray(0, Math.floor(frac * v.length)),
      says: /is not an ONNX model.*(index out of range|invalid wire type)|has no (graph|diffit\.spec)/,
    });
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const r = new Rng(seed, "onnx-noise");
    cases.push({
      name: `4 KiB of random bytes (seed ${seed})`,
      bytes: Uint8Array.from({ length: 4096 }, () => r.int(256)),
      says: /is not an ONNX model/,
    });
  }
  cases.push({ name: "weights given as a model", bytes: fx.weightsBytes, says: /is not an ONNX model/ });
  cases.push({
    name: "a spec given as a model",
    bytes: Buffer.from('{"family": "image"}'),
    says: /is not an ONNX model \(it is JSON text: a spec\?\)/,
  });
  cases.push({
    name: "a zip given as a model",
    bytes: Buffer.concat([Buffer.from("PK\x03\x04"), Buffer.alloc(60, 1)]),
    says: /is not an ONNX model \(it is a zip archive/,
  });
  cases.push({
    name: "a PNG given as a model",
    bytes: Buffer.from("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01", "latin1"),
    says: /is not an ONNX model \(it is a PNG image\)/,
  });
  cases.push({
    name: "text given as a model",
    bytes: Buffer.from("model = DiffiT()\n"),
    says: /is not an ONNX model/,
  });
  return cases;
}

function graphCases(fx: Fixtures): BrokenModel[] {
  const v = fx.onnxBytes;
  const cases: BrokenModel[] = [];
  const change = (name: string, edit: (m: ModelProto) => void, says: RegExp) =>
    cases.push({ name, bytes: mutate(v, edit), says, via: SPEC_READERS });
  const setMeta = (key: string, value: string | undefined) => (m: ModelProto) => {
    const props = (m.metadataProps ?? []).filter((p) => p.key !== key);
    m.metadataProps = value === undefined ? props : [...props, { key, value }];
  };
  const spec = JSON.parse(
    onnx.ModelProto.decode(v).metadataProps?.find((p) => p.key === "diffit.spec")?.value ?? "{}",
  ) as Record<string, unknown>;
  change("no diffit.spec metadata", setMeta("diffit.spec", undefined), /has no diffit\.spec metadata/);
  for (const [label, text] of [
    ["cut short", '{"family": "image"'],
    ["NaN", "NaN"],
    ["single-quoted", "{'family': 'image'}"],
    ["empty", " "],
  ] as const)
    change(
      `diffit.spec metadata ${label}`,
      setMeta("diffit.spec", text),
      /its diffit\.spec metadata is not JSON/,
    );
  for (const [label, value] of [
    ["an empty object", {}],
    ["null", null],
    ["an array", []],
    ["a number", 7],
    ["a spec with an unknown family", { ...spec, family: "gan" }],
  ] as const)
    change(
      `diffit.spec ${label}`,
      setMeta("diffit.spec", JSON.stringify(value)),
      /carries a spec this compiler rejects/,
    );
  const otherSpec = (label: string, over: Record<string, unknown>, says: RegExp) =>
    change(`diffit.spec of ${label}`, setMeta("diffit.spec", JSON.stringify({ ...spec, ...over })), says);
  otherSpec(
    "16×16 images",
    { input: { size: 16, channels: 1 } },
    /input x is \[batch, 1, 8, 8\], expected \[N, 1, 16, 16\]/,
  );
  otherSpec(
    "3 channels",
    { input: { size: 8, channels: 3 } },
    /input x is \[batch, 1, 8, 8\], expected \[N, 3, 8, 8\]/,
  );
  otherSpec("an unconditional model", { conditioning: { classes: 0 } }, /unexpected input y \[batch\]/);
  otherSpec(
    "a 2-channel model",
    { input: { size: 8, channels: 2 } },
    /input x is \[batch, 1, 8, 8\], expected \[N, 2, 8, 8\]/,
  );
  change(
    "diffit.denoiser unknown",
    setMeta("diffit.denoiser", "ddim"),
    /its diffit\.denoiser metadata is "ddim", not raw or edm/,
  );
  change(
    "diffit.denoiser edm on a raw network",
    setMeta("diffit.denoiser", "edm"),
    /no input sigma \[N\].*unexpected input t/s,
  );
  const graph = (m: ModelProto) => {
    if (!m.graph) throw new Error("the fixture model has no graph");
    return m.graph;
  };
  const input = (m: ModelProto, name: string) => (graph(m).input ?? []).find((i) => i.name === name) ?? {};
  change(
    "no graph",
    (m) => {
      m.graph = null;
    },
    /is not an ONNX model: it has no graph/,
  );
  change(
    "IR version 0",
    (m) => {
      m.irVersion = 0;
    },
    /it has no IR version/,
  );
  change(
    "no opset",
    (m) => {
      m.opsetImport = [];
    },
    /it has no opset/,
  );
  // Inputs and outputs of another type, shape or name, each changed alone.
  const retype = (name: string, type: number, typeName: string, want: string) =>
    change(
      `input ${name} as ${typeName}`,
      (m) => {
        const t = input(m, name).type?.tensorType;
        if (t) t.elemType = type;
      },
      new RegExp(`input ${name} is ${typeName}, expected ${want}`),
    );
  retype("x", DataType.INT64, "int64", "float");
  retype("x", DataType.FLOAT16, "float16", "float");
  retype("t", DataType.INT32, "int32", "float");
  retype("y", DataType.FLOAT, "float", "int64");
  const reshape = (name: string, dims: (number | string)[], says: RegExp) =>
    change(
      `input ${name} of shape [${dims.join(", ")}]`,
      (m) => {
        Object.assign(input(m, name), tensorInfo(name, name === "y" ? DataType.INT64 : DataType.FLOAT, dims));
      },
      says,
    );
  reshape("x", ["batch", 8, 8], /input x is \[batch, 8, 8\], expected \[N, 1, 8, 8\]/);
  reshape("x", ["batch", 1, 16, 16], /input x is \[batch, 1, 16, 16\]/);
  reshape("x", ["batch", 1, 8, 0], /input x is \[batch, 1, 8, 0\]/);
  reshape("t", ["batch", 1], /input t is \[batch, 1\], expected \[N\]/);
  for (const name of ["t", "y"])
    change(
      `input ${name} missing`,
      (m) => {
        graph(m).input = (graph(m).input ?? []).filter((i) => i.name !== name);
      },
      new RegExp(`no input ${name} \\[N\\]`),
    );
  const edit = (name: string, e: (g: NonNullable<ModelProto["graph"]>) => void, says: RegExp) =>
    change(name, (m) => e(graph(m)), says);
  edit(
    "input x renamed",
    (g) => {
      const x = (g.input ?? []).find((i) => i.name === "x");
      if (x) x.name = "image";
    },
    /no input x \[N, 1, 8, 8\].*unexpected input image/s,
  );
  edit(
    "input x without a type",
    (g) => {
      const x = (g.input ?? []).find((i) => i.name === "x");
      if (x) x.type = null;
    },
    /input x is not a tensor, expected float/,
  );
  edit(
    "an extra input",
    (g) => {
      g.input = [...(g.input ?? []), tensorInfo("mask", DataType.FLOAT, ["batch", 8, 8])];
    },
    /unexpected input mask/,
  );
  edit(
    "inputs without names",
    (g) => {
      for (const i of g.input ?? []) i.name = "";
    },
    /no input x/,
  );
  edit(
    "output renamed",
    (g) => {
      const [o] = g.output ?? [];
      if (o) o.name = "denoised";
    },
    /no output out.*unexpected output denoised/s,
  );
  edit(
    "no outputs",
    (g) => {
      g.output = [];
    },
    /no output out \[N, 1, 8, 8\]/,
  );
  const output = (label: string, o: ValueInfoProto[], says: RegExp) =>
    edit(
      label,
      (g) => {
        g.output = o;
      },
      says,
    );
  output(
    "output of 5 channels",
    [tensorInfo("out", DataType.FLOAT, ["batch", 5, 8, 8])],
    /output out is \[batch, 5, 8, 8\], expected \[N, 1, 8, 8\]/,
  );
  output(
    "output as int64",
    [tensorInfo("out", DataType.INT64, ["batch", 1, 8, 8])],
    /output out is int64, expected float/,
  );
  output(
    "output of rank 5",
    [tensorInfo("out", DataType.FLOAT, ["batch", 1, 8, 8, 1])],
    /output out is \[batch, 1, 8, 8, 1\]/,
  );
  output(
    "a second output",
    [tensorInfo("out", DataType.FLOAT, ["batch", 1, 8, 8]), tensorInfo("extra", DataType.FLOAT, ["batch"])],
    /unexpected output extra/,
  );
  const external = (name: string, location: string, says: RegExp, length = 16) =>
    change(
      name,
      (m) => {
        const t = (graph(m).initializer ?? []).find((i) => (i.rawData?.length ?? 0) >= 64);
        if (!t) throw new Error("no initializer to move to external data");
        t.rawData = new Uint8Array();
        t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
        t.externalData = [
          { key: "location", value: location },
          { key: "offset", value: "0" },
          { key: "length", value: String(length) },
        ];
      },
      says,
    );
  const OUTSIDE = /keeps its data at .*, outside the model's folder; export the model again/;
  external("external data at ../", "../escape.bin", OUTSIDE);
  external("external data at /dev/zero", "/dev/zero", OUTSIDE);
  external("external data at an absolute path", "/etc/hostname", OUTSIDE);
  external("external data with no location", "", OUTSIDE);
  external("external data missing", "missing.bin", /missing\.bin does not exist/);
  external("external data that is a FIFO", "pipe.bin", /pipe\.bin is a FIFO/);
  external("external data that is a directory", "folder.bin", /folder\.bin is a directory/);
  external(
    "external data too short",
    "short.bin",
    /reads bytes up to 4096 of short\.bin, which has 8 \(truncated\?\)/,
    4096,
  );
  // Past every check of the file itself: onnxruntime's refusal, with the file named.
  const runtime = (name: string, edit: (m: ModelProto) => void) =>
    cases.push({
      name,
      bytes: mutate(v, edit),
      says: /onnxruntime cannot load .*: /,
      via: ["sample --model", "verify"],
    });
  runtime("a node of an unknown op", (m) => {
    const [n] = graph(m).node ?? [];
    if (n) n.opType = "NoSuchOp";
  });
  runtime("a node reading a value nobody makes", (m) => {
    const [n] = graph(m).node ?? [];
    if (n) n.input = ["nowhere"];
  });
  runtime("an opset from the future", (m) => {
    m.opsetImport = [{ domain: "", version: 999 }];
  });
  return cases;
}

export function onnxCases(fx: Fixtures): CorpusCase[] {
  const all = commands(fx);
  const names = Object.keys(all);
  mkdirSync(joinPath(fx.dir, "onnx"), { recursive: true });
  // Files beside the models that the external-data cases point at.
  fx.put("onnx/short.bin", new Uint8Array(8));
  mkdirSync(joinPath(fx.dir, "onnx", "folder.bin"));
  for (const s of SPECIALS) if (s.name === "a FIFO") s.make(joinPath(fx.dir, "onnx", "pipe.bin"));
  const cases: CorpusCase[] = [];
  [...fileCases(fx), ...graphCases(fx), ...signatureCases()].forEach((b, i) => {
    const path = place(fx, `onnx/case-${i}.onnx`, b);
    const via = b.via ?? names;
    const name = via[i % via.length] ?? "verify";
    const command = all[name];
    if (command)
      cases.push({ name: `onnx: ${b.name} (${name})`, args: command(path), exit: 1, expect: [path, b.says] });
  });
  return cases;
}
