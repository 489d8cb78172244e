// Hostile composition: extends chains that are long, cyclic or point at what is not a spec;
// variant matrices that would expand past any memory; and runs of several files where one is
// pathological and the others must still be reported.
import { BASE, type Corpus, diag, garbage } from "./hostile-files.ts";

export function extendsCases(c: Corpus): void {
  // 12,000 files, each extending the next: only the first 17 may be read.
  const n = 12_000;
  for (let i = 0; i < n; i++)
    c.json(`chain/c${i}.json`, { extends: `./c${i + 1}.json`, description: `link ${i}` });
  c.spec(`chain/c${n}.json`);
  c.invalid(
    "an extends chain of 12,000 files",
    c.path("chain/c0.json"),
    diag("c0.json", "extends", "the extends chain is longer than 16 files", "DF108"),
    /merge some of the bases into one file/,
  );
  for (let i = 0; i < 16; i++) c.json(`chain16/c${i}.json`, { extends: `./c${i + 1}.json` });
  c.spec("chain16/c16.json");
  c.valid("an extends chain of 16 links", c.path("chain16/c0.json"));
  c.json("self.json", { ...BASE, extends: "./self.json" });
  c.invalid(
    "a spec extending itself",
    c.path("self.json"),
    diag("self.json", "extends", "extends cycle", "DF105"),
  );
  c.json("cycle-a.json", { extends: "./cycle-b.json" });
  c.json("cycle-b.json", { extends: "./cycle-a.json" });
  c.invalid(
    "an extends cycle of two",
    c.path("cycle-a.json"),
    diag("cycle-a.json", "extends", "extends cycle", "DF105"),
  );
  const targets: [string, string, string, string][] = [
    ["a directory", "./chain", "is not a .json or .ts file (use a .json or .ts spec)", "DF106"],
    ["a FIFO", "./base-pipe.json", "is a FIFO (named pipe)", "DF101"],
    ["/dev/zero", "/dev/zero", "use a .json or .ts spec", "DF106"],
    ["/dev/zero behind a .json name", "./zero.json", "character device", "DF101"],
    ["a missing file", "./nope.json", "does not exist", "DF101"],
    ["the empty string", "", "is not a .json or .ts file", "DF106"],
    ["a directory named .json", "./folder.json", "is a directory, not a spec file", "DF101"],
    ["a file over 1 MiB", "./huge.json", "more than the 1 MiB", "DF101"],
  ];
  c.fifo("base-pipe.json");
  for (const [what, target, fragment, code] of targets) {
    const file = `extends-${what.replace(/\W+/g, "-")}.json`;
    c.json(file, { extends: target, name: "derived" });
    c.invalid(`extends of ${what}`, c.path(file), diag(file, "extends", fragment, code));
  }
  c.write("garbage-base.json", garbage(1024, 7));
  c.json("extends-garbage.json", { extends: "./garbage-base.json" });
  c.invalid(
    "extends of binary garbage",
    c.path("extends-garbage.json"),
    diag("garbage-base.json", "(root)", "", "DF109"),
  );
  c.json("extends-number.json", { extends: 5 });
  c.invalid(
    "extends as a number",
    c.path("extends-number.json"),
    diag("extends-number.json", "extends", "extends must be a path to another spec file", "DF202"),
  );
  c.json("proto-base.json", { ...BASE, constructor: { prototype: { polluted: true } } });
  c.json("extends-proto.json", { extends: "./proto-base.json" });
  c.invalid(
    "a base with a constructor key",
    c.path("extends-proto.json"),
    diag("proto-base.json", "constructor", '"constructor" is not allowed', "DF107"),
  );
  // Nine files of a bit under 1 MiB each: more than the 8 MiB one spec may read in all.
  const filler = "x".repeat(1000 * 1000);
  for (let i = 0; i < 9; i++)
    c.json(`heavy/h${i}.json`, { extends: `./h${i + 1}.json`, description: filler });
  c.spec("heavy/h9.json");
  c.invalid(
    "an extends chain of 9 MB",
    c.path("heavy/h0.json"),
    diag("h7.json", "extends", "are more than 8 MiB", "DF108"),
  );
}

export function variantCases(c: Corpus): void {
  const matrix = (keys: number, values: number) =>
    Object.fromEntries(
      Array.from({ length: keys }, (_, k) => [
        `description${k}`,
        Array.from({ length: values }, (_, v) => v),
      ]),
    );
  c.invalid(
    "a matrix of 2^24 variants",
    c.spec("matrix-2-24.json", { variants: { matrix: matrix(24, 2) } }),
    diag(
      "matrix-2-24.json",
      "variants.matrix",
      "these variants would be 16,777,216 specs (2 × 2 × 2",
      "DF404",
    ),
    /split the sweep into several files/,
  );
  c.invalid(
    "a matrix of 60^60 variants",
    c.spec("matrix-huge.json", { variants: { matrix: matrix(60, 60) } }),
    diag("matrix-huge.json", "variants.matrix", "would be more than 10^15 specs", "DF404"),
  );
  c.invalid(
    "a list of 1,001 values",
    c.spec("matrix-1001.json", { variants: { matrix: matrix(1, 1001) } }),
    diag("matrix-1001.json", "variants.matrix", "would be 1,001 specs", "DF404"),
  );
  const include = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ name: `v${i}`, set: { "training.seed": i } }));
  c.invalid(
    "1,001 named variants",
    c.spec("include-1001.json", { variants: { include: include(1001) } }),
    diag("include-1001.json", "variants.include", "would be 1,001 specs", "DF404"),
  );
  const seeds = Array.from({ length: 1000 }, (_, i) => i);
  c.valid(
    "1,000 variants",
    c.spec("matrix-1000.json", { variants: { matrix: { "training.seed": seeds } } }),
    /1000 spec\(s\) valid/,
  );
  const big = Array.from({ length: 5000 }, () => 0);
  c.invalid(
    "200 variants each copying 5,000 values",
    c.spec("matrix-heavy.json", {
      variants: { matrix: { "training.seed": seeds.slice(0, 200), "sampling.guidance.channels": [big] } },
    }),
    diag("matrix-heavy.json", "variants.matrix", "more than 1,000,000", "DF404"),
  );
  c.invalid(
    "an empty value list",
    c.spec("matrix-empty.json", { variants: { matrix: { depth: [] } } }),
    diag("matrix-empty.json", "variants.matrix.depth", "needs at least 1 item(s)", "DF203"),
  );
  const longPath = Array(10_000).fill("a").join(".");
  c.invalid(
    "a variant path of 10,000 segments",
    c.spec("path-long.json", { variants: { matrix: { [longPath]: [1] } } }),
    diag("path-long.json", "", "the path has 10000 segments", "DF403"),
  );
  c.invalid(
    "an index past any array",
    c.spec("path-index.json", { variants: { matrix: { "stages[99999999999999999999].depth": [1] } } }),
    diag(
      "path-index.json",
      'variants.matrix["stages[99999999999999999999].depth"]',
      "stages[100000000000000000000] does not exist (indices of stages run from 0 to 0)",
      "DF401",
    ),
  );
  c.invalid(
    "variants as an array",
    c.spec("variants-array.json", { variants: [1, 2] }),
    diag("variants-array.json", "variants", "expected an object, got array", "DF202"),
  );
  c.invalid(
    "duplicate variant names",
    c.spec("variants-dup.json", {
      variants: {
        include: [
          { name: "a", set: {} },
          { name: "a", set: {} },
        ],
      },
    }),
    diag("variants-dup.json", "variants.include[1].name", 'two variants are named "a"', "DF402"),
  );
  c.valid(
    "a variant that sets nothing",
    c.spec("variants-nothing.json", { variants: { include: [{ name: "same", set: {} }] } }),
  );
  c.add(
    "resolve of 1,000 variants",
    ["resolve", "--json", c.path("matrix-1000.json")],
    0,
    /"name": "matrix-1000-json\[seed=999\]"/,
  );
}

export function runCases(c: Corpus): void {
  const good = c.spec("run-good.json");
  const other = c.spec("run-other.json");
  const deep = c.path("deep-arrays.json");
  c.add(
    "one bad file among good ones",
    ["validate", good, deep, c.path("pipe.json"), other],
    1,
    /✓ [^\n]*run-good\.json[\s\S]*DF108[\s\S]*FIFO[\s\S]*✓ [^\n]*run-other\.json/,
  );
  c.add(
    "validate --json isolates each file",
    ["validate", "--json", good, deep],
    1,
    /"ok": true[\s\S]*"code": "DF108"/,
  );
  const biggest = {
    family: "image",
    name: "biggest",
    input: { size: 4096, channels: 64 },
    stages: Array(12).fill({ channels: 8192, depth: 32, windowSize: 2, heads: 256, mlpRatio: 64 }),
    groupNormGroups: 8192,
    time: { sinusoidDim: 8192, tokenDim: 8192 },
    conditioning: { classes: 100_000 },
    decoderBottleneck: true,
    skip: "concat",
  };
  c.add(
    "inspect of the biggest valid image spec",
    ["inspect", "--json", c.json("biggest.json", biggest)],
    0,
    /"name": "biggest"/,
  );
  const latent = {
    family: "latent",
    name: "biggest-latent",
    input: { size: 4096, channels: 64 },
    patchSize: 1,
    hidden: 8192,
    depth: 128,
    heads: 256,
    mlpRatio: 64,
    window: 1024,
    time: { sinusoidDim: 8192 },
    conditioning: { classes: 100_000 },
  };
  c.add(
    "inspect of the biggest valid latent spec",
    ["inspect", c.json("biggest-latent.json", latent)],
    0,
    /MACs total/,
  );
  c.add(
    "inspect of a spec over the limits",
    ["inspect", c.spec("inspect-deep.json", { stages: [{ channels: 16, depth: 100_000, windowSize: 4 }] })],
    1,
    diag("inspect-deep.json", "stages[0].depth", "must be ≤ 32", "DF203"),
  );
}
