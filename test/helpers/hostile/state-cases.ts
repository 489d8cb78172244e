// Hostile and broken training states, each given to `train --resume` (the state sits in the
// run's --out folder): damaged files, bad progress metadata (steps, generator, data cursor),
// tensors missing, extra, of another shape or dtype, and non-finite values. The valid state is at
// step 1 and the run asks for 1 step, so a state that loads does no training work.
import { join as joinPath } from "node:path";
import type { CorpusCase } from "../corpus.ts";
import {
  type Broken,
  type Fixtures,
  place,
  quickTrain,
  SPECIALS,
  sparse,
  validProgress,
} from "./fixtures.ts";
import { edited, join, narrowed, type RawSafetensors, split, withValues } from "./safetensors-bytes.ts";

const GROUPS = ["model/", "ema/", "adam.m/", "adam.v/"] as const;

function meta(h: Record<string, unknown>): Record<string, string> {
  return h.__metadata__ as Record<string, string>;
}

/** Cases that change one field of the progress metadata (others as saved). */
function progressCases(raw: RawSafetensors): Broken[] {
  const cases: Broken[] = [];
  const progress = (name: string, change: (p: Record<string, unknown>) => void, says: RegExp) =>
    cases.push({
      name,
      bytes: edited(raw, (h) => {
        const p = structuredClone(validProgress()) as unknown as Record<string, unknown>;
        change(p);
        meta(h).progress = JSON.stringify(p);
      }),
      says,
    });
  const field = (path: string[], label: string, value: unknown) =>
    progress(
      `progress.${path.join(".")} ${label}`,
      (p) => {
        let at: Record<string, unknown> = p;
        for (const k of path.slice(0, -1)) at = at[k] as Record<string, unknown>;
        const last = path[path.length - 1] ?? "";
        if (value === undefined) delete at[last];
        else at[last] = value;
      },
      new RegExp(`invalid training progress \\(progress\\.${path.join("\\.").replace(/\[/g, "\\[")}`),
    );
  for (const [label, v] of [
    ["negative", -1],
    ["fractional (1.5)", 1.5],
    ["a string", "1"],
    ["null (NaN in JSON)", null],
    ["true", true],
    ["1e300", 1e300],
    ["2^53", 2 ** 53],
    ["missing", undefined],
  ] as const)
    field(["step"], label, v);
  for (const [label, v] of [
    ["negative", -2],
    ["fractional", 0.5],
    ["a string", "x"],
    ["missing", undefined],
  ] as const)
    field(["adamStep"], label, v);
  for (const [label, v] of [
    ["missing", undefined],
    ["empty", []],
    ["of 5 numbers", [1, 2, 3, 4, 0]],
    ["of 7 numbers", [1, 2, 3, 4, 0, 0, 0]],
    ["an object", { s: [1, 2, 3, 4] }],
    ["a string", "1,2,3,4,0,0"],
  ] as const)
    field(["rng"], label, v);
  const rng = validProgress().rng;
  const word = (i: number, label: string, v: unknown) =>
    progress(
      `progress.rng[${i}] ${label}`,
      (p) => {
        (p.rng as unknown[])[i] = v;
      },
      new RegExp(`progress\\.rng\\[${i}\\]`),
    );
  word(0, "negative", -1);
  word(1, "2^32", 2 ** 32);
  word(2, "fractional", 1.5);
  word(3, "a string", "7");
  word(4, "flag 2", 2);
  word(4, "flag -1", -1);
  word(5, "a string", "x");
  word(5, "null", null);
  progress(
    "progress.rng all four words 0",
    (p) => {
      p.rng = [0, 0, 0, 0, ...rng.slice(4)];
    },
    /progress\.rng: the four generator words are all 0/,
  );
  for (const [label, v] of [
    ["missing", undefined],
    ["null", null],
    ["an array", [0, 2]],
  ] as const)
    field(["data"], label, v);
  for (const [label, v] of [
    ["negative", -1],
    ["fractional", 1.5],
    ["missing", undefined],
  ] as const)
    field(["data", "epoch"], label, v);
  for (const [label, v] of [
    ["null (NaN in JSON)", null],
    ["negative", -3],
    ["fractional", 2.5],
    ["a string", "2"],
  ] as const)
    field(["data", "position"], label, v);
  progress(
    "data.position past the run's 8 images",
    (p) => {
      p.data = { epoch: 0, position: 9 };
    },
    /records data position 9, past the 8 images the run trained on/,
  );
  return cases;
}

function metadataCases(raw: RawSafetensors): Broken[] {
  const cases: Broken[] = [];
  const metadata = (name: string, change: (m: Record<string, string>) => void, says: RegExp) =>
    cases.push({ name, bytes: edited(raw, (h) => change(meta(h))), says });
  metadata(
    "format missing",
    (m) => {
      delete m.format;
    },
    /is not a training state \(format missing\); use --init for weights-only checkpoints/,
  );
  metadata(
    "format of weights",
    (m) => {
      m.format = "diffit-weights/1";
    },
    /is not a training state \(format diffit-weights\/1\)/,
  );
  metadata(
    "format of a later version",
    (m) => {
      m.format = "diffit-train-state/99";
    },
    /is not a training state/,
  );
  metadata(
    "specHash missing",
    (m) => {
      delete m.specHash;
    },
    /was trained with another spec \(hostile-image, hash missing/,
  );
  metadata(
    "specHash of another spec",
    (m) => {
      m.specHash = "0".repeat(64);
    },
    /was trained with another spec \(hostile-image, hash 0{64}/,
  );
  metadata(
    "progress missing",
    (m) => {
      delete m.progress;
    },
    /has no progress metadata; the file is damaged/,
  );
  for (const [label, text] of [
    ["not JSON", "{"],
    ["NaN", "NaN"],
  ] as const)
    metadata(
      `progress ${label}`,
      (m) => {
        m.progress = text;
      },
      /its progress metadata is not JSON/,
    );
  for (const [label, text] of [
    ["an array", "[]"],
    ["null", "null"],
    ["a number", "42"],
  ] as const)
    metadata(
      `progress ${label}`,
      (m) => {
        m.progress = text;
      },
      /invalid training progress \(progress: /,
    );
  for (const [label, text, says] of [
    ["not JSON", "{", /its settings metadata is not JSON/],
    ["an array", "[1]", /its settings metadata is not a JSON object/],
    ["null", "null", /its settings metadata is not a JSON object/],
    ["a number", "5", /its settings metadata is not a JSON object/],
  ] as const)
    metadata(
      `settings ${label}`,
      (m) => {
        m.settings = text;
      },
      says,
    );
  return cases;
}

function tensorCases(raw: RawSafetensors, fx: Fixtures): Broken[] {
  const cases: Broken[] = [];
  const edit = (name: string, change: (h: Record<string, unknown>) => void, says: RegExp) =>
    cases.push({ name, bytes: edited(raw, change), says });
  const trainable = fx.imageGraph.params.filter((p) => p.trainable);
  const matrix = trainable.find((p) => p.shape.length === 2 && p.shape[0] !== p.shape[1]);
  const first = trainable[0];
  if (!first || !matrix) throw new Error("the fixture spec has no non-square matrix");
  const esc = (s: string) => s.replaceAll(".", "\\.");
  type Entry = { dtype: string; shape: number[]; data_offsets: number[] };
  for (const g of GROUPS) {
    const name = `${g}${first.name}`;
    const m = `${g}${matrix.name}`;
    edit(
      `${g} tensor missing`,
      (h) => {
        delete h[name];
      },
      new RegExp(`missing ${esc(name)} \\[`),
    );
    edit(
      `${g} tensor of another shape`,
      (h) => {
        const e = h[name] as Entry;
        e.shape = [e.shape.reduce((a, b) => a * b, 1)];
        if (first.shape.length === 1) e.shape = [1, ...e.shape];
      },
      new RegExp(`${esc(name)}: shape \\[[\\d, ]+\\], spec needs \\[${first.shape.join(", ")}\\]`),
    );
    edit(
      `${g} matrix transposed`,
      (h) => {
        const e = h[m] as Entry;
        e.shape = [...e.shape].reverse();
      },
      new RegExp(
        `${esc(m)}: shape \\[${[...matrix.shape].reverse().join(", ")}\\], spec needs \\[${matrix.shape.join(", ")}\\]`,
      ),
    );
    edit(
      `${g} extra tensor`,
      (h) => {
        h[`${g}blocks.9.extra`] = { dtype: "F32", shape: [0], data_offsets: [0, 0] };
      },
      new RegExp(`unexpected ${esc(g)}blocks\\.9\\.extra`),
    );
    edit(
      `${g} tensor as I32`,
      (h) => {
        (h[name] as Entry).dtype = "I32";
      },
      new RegExp(`${esc(name)}: dtype I32, expected a float type`),
    );
    for (const [label, v] of [
      ["NaN", Number.NaN],
      ["+Inf", Number.POSITIVE_INFINITY],
    ] as const)
      cases.push({
        name: `${label} in ${g}`,
        bytes: withValues(raw, name, (i) => (i === 0 ? v : 0.5)),
        says: new RegExp(`holds non-finite weights: ${esc(name)} has 1 NaN or infinite value\\(s\\)`),
      });
  }
  edit(
    "every moment of the wrong shape",
    (h) => {
      for (const p of trainable) {
        const e = h[`adam.m/${p.name}`] as Entry;
        if (e.shape.length === 2) e.shape = [...e.shape].reverse();
      }
    },
    /does not fit the spec \(\d+ problem\(s\)\):\n {2}adam\.m\//,
  );
  edit(
    "a tensor outside the four groups",
    (h) => {
      h["optimizer/lr"] = { dtype: "F32", shape: [0], data_offsets: [0, 0] };
    },
    /unexpected optimizer\/lr/,
  );
  edit(
    "an unprefixed tensor",
    (h) => {
      h[first.name] = { dtype: "F32", shape: [0], data_offsets: [0, 0] };
    },
    new RegExp(`unexpected ${esc(first.name)}\\b`),
  );
  edit(
    "the whole model group missing",
    (h) => {
      for (const k of Object.keys(h)) if (k.startsWith("model/")) delete h[k];
    },
    /missing model\/.*… and \d+ more/s,
  );
  cases.push({
    name: "a negative second moment",
    bytes: withValues(raw, `adam.v/${first.name}`, (i) => (i === 0 ? -1e-3 : 0)),
    says: new RegExp(`Adam's second moments adam\\.v/${esc(first.name)} hold negative values`),
  });
  cases.push({
    name: "NaN in a float16 state",
    bytes: narrowed(split(withValues(raw, `ema/${first.name}`, () => Number.NaN)), "F16"),
    says: new RegExp(`holds non-finite weights: ema/${esc(first.name)} has`),
  });
  return cases;
}

function brokenStates(fx: Fixtures, valid: Uint8Array): Broken[] {
  const raw = split(valid);
  const size = valid.length;
  const dataStart = size - raw.data.length;
  const cases: Broken[] = [];
  for (const s of SPECIALS) {
    // A dangling link or a loop does not "exist" for train: nothing to resume (a usage error).
    const missing = s.name === "a dangling link" || s.name === "a link loop";
    cases.push({
      name: `${s.name} as the state`,
      make: s.make,
      says: missing ? /nothing to resume: .* does not exist/ : s.says,
      ...(missing ? { exit: 2 } : {}),
    });
  }
  cases.push({
    name: "a 9 GiB sparse state",
    make: (p) => sparse(p, 9 * 2 ** 30),
    says: /9 GiB, more than the 4 GiB diffit reads as a training state/,
  });
  cases.push({ name: "an empty state", bytes: new Uint8Array(), says: /too short/ });
  cases.push({ name: "a 3-byte state", bytes: valid.subarray(0, 3), says: /too short/ });
  for (const frac of [0, 0.3, 0.6, 0.9, 0.999])
    cases.push({
      name: `a state truncated ${frac * 100} % into its data`,
      bytes: valid.subarray(0, Math.floor(dataStart + frac * raw.data.length)),
      says: /that do not fit the file's \d+ data bytes \(truncated\?\)/,
    });
  cases.push({
    name: "a state whose header is cut short",
    bytes: join(raw.header, raw.data, BigInt(dataStart - 8 - 20)),
    says: /header is not JSON/,
  });
  cases.push({
    name: "weights given as the state",
    bytes: fx.weightsBytes,
    says: /is not a training state \(format diffit-weights\/1\); use --init/,
  });
  cases.push({
    name: "an ONNX file given as the state",
    bytes: fx.onnxBytes,
    says: /not a safetensors file/,
  });
  return [...cases, ...metadataCases(raw), ...progressCases(raw), ...tensorCases(raw, fx)];
}

export function stateCases(fx: Fixtures, valid: Uint8Array): CorpusCase[] {
  const resume = (out: string) => quickTrain(fx, "--resume", "--out", out, "--data", fx.idxDir);
  const cases = brokenStates(fx, valid).map((b, i): CorpusCase => {
    const out = joinPath(fx.dir, "states", `case-${i}`);
    const path = place(fx, `states/case-${i}/state.safetensors`, b);
    return { name: `state: ${b.name}`, args: resume(out), exit: b.exit ?? 1, expect: [path, b.says] };
  });
  const raw = split(valid);
  for (const dtype of ["F16", "BF16"] as const) {
    const out = joinPath(fx.dir, "states", `valid-${dtype}`);
    fx.put(`states/valid-${dtype}/state.safetensors`, narrowed(raw, dtype));
    cases.push({
      name: `state: a valid ${dtype} state resumes, widened`,
      args: resume(out),
      exit: 0,
      expect: [new RegExp(`stores \\d+ ${dtype} tensor\\(s\\); widened to float32`), /step 1 \(0 this run/],
    });
  }
  const out = joinPath(fx.dir, "states", "valid");
  fx.put("states/valid/state.safetensors", valid);
  cases.push({
    name: "state: the valid state resumes",
    args: resume(out),
    exit: 0,
    expect: [/step 1 \(0 this run/],
  });
  return cases;
}
