// Hostile and broken JSON spec files: what is not a regular file, what is not UTF-8 text, what
// nests or grows past the limits, and syntax JSON forbids or allows too loosely.
import { gzipSync } from "node:zlib";
import { BASE, type Corpus, diag, garbage } from "./hostile-files.ts";

export const base = JSON.stringify(BASE);

/** BASE's JSON text with `fragment` (`"key": value`) as its first field, replacing BASE's own. */
export function withField(fragment: string): string {
  const key = /^"([^"]+)"/.exec(fragment)?.[1] ?? "";
  const rest = Object.fromEntries(Object.entries(BASE).filter(([k]) => k !== key));
  return `{${fragment},${JSON.stringify(rest).slice(1)}`;
}

export function fileKindCases(c: Corpus): void {
  c.invalid(
    "missing file",
    c.path("missing.json"),
    diag("missing.json", "(root)", "does not exist; check the spec path", "DF101"),
  );
  c.write("folder.json/inner.json", base);
  c.invalid(
    "a directory",
    c.path("folder.json"),
    diag("folder.json", "(root)", "is a directory, not a spec file", "DF101"),
  );
  c.invalid(
    "a FIFO",
    c.fifo("pipe.json"),
    diag("pipe.json", "(root)", "is a FIFO (named pipe), not a spec file", "DF101"),
  );
  c.invalid(
    "/dev/zero behind a .json name",
    c.link("zero.json", "/dev/zero"),
    diag("zero.json", "(root)", "character device", "DF101"),
  );
  c.invalid(
    "/dev/null behind a .json name",
    c.link("null.json", "/dev/null"),
    diag("null.json", "(root)", "character device", "DF101"),
  );
  c.invalid("/dev/zero itself", "/dev/zero", diag("/dev/zero", "(root)", "use a .json or .ts spec", "DF106"));
  c.invalid(
    "a dangling link",
    c.link("dangling.json", c.path("nowhere.json")),
    diag("dangling.json", "(root)", "does not exist", "DF101"),
  );
  c.invalid(
    "an empty file",
    c.write("empty.json", ""),
    diag("empty.json", "(root)", "ends before the JSON value is complete", "DF102"),
  );
  c.invalid(
    "only whitespace",
    c.write("blank.json", " \n\t\n  "),
    diag("blank.json", "(root)", "ends before", "DF102"),
  );
  const big = c.write("huge.json", withField(`"description": "${"x".repeat(1024 * 1024)}"`));
  c.invalid(
    "a spec over 1 MiB",
    big,
    diag("huge.json", "(root)", "more than the 1 MiB diffit reads as a spec", "DF101"),
  );
  c.invalid(
    "a YAML spec",
    c.write("spec.yaml", "family: image\n"),
    diag("spec.yaml", "(root)", "use a .json or .ts spec", "DF106"),
  );
}

export function encodingCases(c: Corpus): void {
  c.valid(
    "a UTF-8 byte-order mark",
    c.write("bom.json", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(base)])),
  );
  const utf16 = (bom: number[], le: boolean) => {
    const body = Buffer.from(base, "utf16le");
    if (!le) body.swap16();
    return Buffer.concat([Buffer.from(bom), body]);
  };
  c.invalid(
    "UTF-16 LE",
    c.write("utf16le.json", utf16([0xff, 0xfe], true)),
    diag("utf16le.json", "(root)", "save the spec as UTF-8", "DF109"),
  );
  c.invalid(
    "UTF-16 BE",
    c.write("utf16be.json", utf16([0xfe, 0xff], false)),
    diag("utf16be.json", "(root)", "save the spec as UTF-8", "DF109"),
  );
  const latin1 = c.write("latin1.json", Buffer.from(withField('"description": "Modèle"'), "latin1"));
  c.invalid(
    "a Latin-1 byte",
    latin1,
    /latin1\.json:1:\d+ \(root\): byte 0xe8 is not UTF-8 text \(save the spec as UTF-8 text\) \[DF109\]/,
  );
  for (const [name, bytes] of [
    ["an overlong encoding", [0xc0, 0x80]],
    ["an encoded surrogate", [0xed, 0xa0, 0x80]],
    ["a truncated sequence at the end", [0xe2, 0x82]],
    ["a lone continuation byte", [0x80]],
  ] as const) {
    const file = `utf8-${name.replace(/\W+/g, "-")}.json`;
    c.invalid(
      name,
      c.write(file, Buffer.concat([Buffer.from(base), Buffer.from(bytes)])),
      diag(file, "(root)", "is not UTF-8 text", "DF109"),
    );
  }
  c.invalid(
    "a NUL byte",
    c.write("nul.json", `${base}\0`),
    diag("nul.json", "(root)", "binary data (a NUL byte)", "DF109"),
  );
  for (const seed of [1, 2, 3]) {
    c.invalid(
      `binary garbage ${seed}`,
      c.write(`garbage-${seed}.json`, garbage(4096, seed)),
      diag(`garbage-${seed}.json`, "(root)", "", "DF109"),
    );
  }
  c.invalid(
    "a gzipped spec",
    c.write("gzipped.json", gzipSync(base)),
    diag("gzipped.json", "(root)", "", "DF109"),
  );
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), garbage(512, 9)]);
  c.invalid("a PNG named .json", c.write("image.json", png), diag("image.json", "(root)", "", "DF109"));
}

export function sizeCases(c: Corpus): void {
  const deep = (open: string, close: string, n: number) =>
    withField(`"description": ${open.repeat(n)}${close.repeat(n)}`);
  c.invalid(
    "100,000 nested arrays",
    c.write("deep-arrays.json", deep("[", "]", 100_000)),
    diag(
      "deep-arrays.json",
      "(root)",
      "nest more than 64 levels deep here (a spec needs a few levels; flatten the value)",
      "DF108",
    ),
  );
  c.invalid(
    "100,000 nested objects",
    c.write("deep-objects.json", deep('{"a":', "}", 100_000).replace(/\{"a":\}/, '{"a":1}')),
    diag("deep-objects.json", "(root)", "nest more than 64", "DF108"),
  );
  c.invalid(
    "100,000 unclosed brackets",
    c.write("unclosed.json", "[".repeat(100_000)),
    diag("unclosed.json", "(root)", "nest more than 64", "DF108"),
  );
  c.invalid(
    "brackets inside strings do not count, 65 real levels do",
    c.write("deep-65.json", deep("[", "]", 64).replace('"description": ', '"description": "[[[[", "x": ')),
    diag("deep-65.json", "(root)", "nest more than 64", "DF108"),
  );
  c.invalid(
    "64 levels are read (and fail as a wrong type)",
    c.write("deep-63.json", deep("[", "]", 63)),
    diag("deep-63.json", "description", "expected a string", "DF202"),
  );
  const keys = (n: number) => withField(Array.from({ length: n }, (_, i) => `"k${i}": ${i}`).join(","));
  c.invalid(
    "40,000 keys (the reader is linear)",
    c.write("keys-40k.json", keys(40_000)),
    diag("keys-40k.json", "", "more than 10000 values in one spec file", "DF108"),
  );
  c.invalid(
    "5,000 unknown keys, each reported",
    c.write("keys-5k.json", keys(5000)),
    diag("keys-5k.json", "k4999", 'unknown key "k4999"', "DF201"),
    /✗ [^\n]*keys-5k\.json: 5000 error\(s\)/,
  );
  c.invalid(
    "a line of 500,000 garbage symbols",
    c.write("symbols.json", `{${"#".repeat(500_000)}}`),
    diag("symbols.json", "(root)", "", "DF102"),
  );
  c.invalid(
    "100,000 stray commas",
    c.write("commas.json", `{${",".repeat(100_000)}}`),
    diag("commas.json", "(root)", "", "DF102"),
  );
  const many = `[${Array.from({ length: 200_000 }, () => "0").join(",")}]`;
  c.invalid(
    "200,000 array items",
    c.write("items.json", withField(`"description": ${many}`)),
    diag("items.json", "", "more than 10000 values", "DF108"),
  );
}

export function syntaxCases(c: Corpus): void {
  const cases: [string, string, string, string][] = [
    ["an unterminated string", '{"family": "image', "(root)", "unterminated string"],
    ["content after the spec", `${base} {}`, "(root)", "unexpected content after the end of the spec"],
    ["a comment", `// note\n${base}`, "(root)", 'put notes in the "description" field'],
    ["single quotes", "{'family': 'image'}", "(root)", "replace ' with \""],
    ["NaN", withField('"dropout": NaN'), "(root)", ""],
    ["Infinity", withField('"dropout": Infinity'), "(root)", ""],
    ["a trailing comma", `${base.slice(0, -1)},}`, "(root)", "remove the comma"],
    [
      "a duplicate key",
      `{"name": "twice",${base.slice(1)}`,
      "name",
      'duplicate key "name" (first written at line 1) (remove one of them)',
    ],
    [
      "a duplicate nested key",
      withField('"time": {"tokenDim": 64, "tokenDim": 32}'),
      "time.tokenDim",
      'duplicate key "tokenDim"',
    ],
  ];
  for (const [name, text, path, fragment] of cases) {
    const file = `syntax-${name.replace(/\W+/g, "-")}.json`;
    c.invalid(name, c.write(file, text), diag(file, path, fragment, "DF102"));
  }
}
