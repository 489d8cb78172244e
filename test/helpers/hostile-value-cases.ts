// Hostile values in otherwise plain JSON specs: numbers past a double or a limit, keys that
// reach prototypes (in fields and in variant paths), and names and $schema values of the wrong
// kind, which used to be silently replaced by the file name or accepted.
import { BASE, type Corpus, diag } from "./hostile-files.ts";
import { base, withField } from "./hostile-json-cases.ts";

export function numberCases(c: Corpus): void {
  const cases: [string, string, string, string, string][] = [
    [
      "1e400",
      '"training": {"lr": 1e400}',
      "training.lr",
      "the number 1e400 is too large for a 64-bit float (write a number within ±1.7e308)",
      "DF203",
    ],
    [
      "-1e400",
      '"diffusion": {"kind": "edm", "pMean": -1e400}',
      "diffusion.pMean",
      "too large for a 64-bit float",
      "DF203",
    ],
    [
      "a 5,000-digit integer",
      `"conditioning": {"classes": ${"9".repeat(5000)}}`,
      "conditioning.classes",
      "too large for a 64-bit float",
      "DF203",
    ],
    [
      "2^53 + 1 as a seed",
      '"training": {"seed": 9007199254740993}',
      "training.seed",
      "must be ≤ 9007199254740991",
      "DF203",
    ],
    ["1e300 channels", '"tokenizer": {"channels": 1e300}', "tokenizer.channels", "must be ≤ 8192", "DF203"],
    ["-0 as a depth", '"input": {"size": -0, "channels": 1}', "input.size", "must be > 0", "DF203"],
    [
      "0.5 heads",
      '"stages": [{"channels": 16, "depth": 1, "windowSize": 4, "heads": 0.5}]',
      "stages[0].heads",
      "expected an integer",
      "DF202",
    ],
    ['"NaN" as a learning rate', '"training": {"lr": "NaN"}', "training.lr", "expected a number", "DF202"],
    [
      "an input of 100,000 pixels",
      '"input": {"size": 100000, "channels": 1}',
      "input.size",
      "must be ≤ 4096",
      "DF203",
    ],
    [
      "1,000 stages",
      `"stages": [${Array(1000).fill('{"channels": 16, "depth": 1, "windowSize": 1}').join(",")}]`,
      "stages",
      "needs at most 12 item(s)",
      "DF203",
    ],
    [
      "depth 100,000",
      '"stages": [{"channels": 16, "depth": 100000, "windowSize": 4}]',
      "stages[0].depth",
      "must be ≤ 32",
      "DF203",
    ],
    [
      "a million classes",
      '"conditioning": {"classes": 1000000}',
      "conditioning.classes",
      "must be ≤ 100000",
      "DF203",
    ],
  ];
  for (const [name, fragment, path, message, code] of cases) {
    const file = `number-${name.replace(/\W+/g, "-")}.json`;
    c.invalid(name, c.write(file, withField(fragment)), diag(file, path, message, code));
  }
}

export function keyCases(c: Corpus): void {
  const cases: [string, string, string, string][] = [
    ["__proto__ at the top", '"__proto__": {"toString": 1}', "__proto__", '"__proto__" is not allowed'],
    [
      "__proto__ in a stage",
      '"stages": [{"channels": 16, "depth": 1, "windowSize": 4, "__proto__": {"polluted": 1}}]',
      "stages[0].__proto__",
      '"__proto__" is not allowed',
    ],
    [
      "constructor at the top",
      '"constructor": {"prototype": {"polluted": 1}}',
      "constructor",
      '"constructor" is not allowed',
    ],
    ["prototype in time", '"time": {"prototype": 1}', "time.prototype", '"prototype" is not allowed'],
    [
      "an escaped __proto__ key",
      '"\\u005f_proto__": {"polluted": 1}',
      "__proto__",
      '"__proto__" is not allowed',
    ],
    [
      "__proto__ inside a variant value",
      '"variants": {"matrix": {"time": [{"__proto__": {"polluted": 1}}]}}',
      "variants.matrix.time[0].__proto__",
      '"__proto__" is not allowed',
    ],
  ];
  for (const [name, fragment, path, message] of cases) {
    const file = `key-${name.replace(/\W+/g, "-")}.json`;
    c.invalid(
      name,
      c.write(file, withField(fragment)),
      diag(
        file,
        path,
        `${message}: it would reach JavaScript's object prototypes (no spec field has this name; remove or rename it)`,
        "DF107",
      ),
    );
  }
  const paths: [string, string, string][] = [
    ["matrix", "__proto__.polluted", '"__proto__"'],
    ["matrix", "constructor.prototype.toString", '"constructor"'],
    ["matrix", "time.constructor.prototype.polluted", '"constructor"'],
    ["include", "__proto__.polluted", '"__proto__"'],
    ["include", "stages[0].constructor", '"constructor"'],
    ["include", "time.prototype", '"prototype"'],
  ];
  for (const [kind, path, key] of paths) {
    const variants =
      kind === "matrix" ? { matrix: { [path]: [1] } } : { include: [{ name: "v", set: { [path]: 1 } }] };
    const file = `variant-path-${kind}-${path.replace(/\W+/g, "-")}.json`;
    const at =
      kind === "matrix"
        ? `variants.matrix[${JSON.stringify(path)}]`
        : `variants.include[0].set[${JSON.stringify(path)}]`;
    c.invalid(
      `variant path ${path} (${kind})`,
      c.spec(file, { variants }),
      diag(file, at, `${key} is not allowed`, "DF107"),
    );
  }
}

export function nameCases(c: Corpus): void {
  const wrong: [string, unknown][] = [
    ["a number", 123],
    ["null", null],
    ["an object", { first: "x" }],
    ["an array", ["x"]],
    ["true", true],
  ];
  for (const [what, name] of wrong) {
    const file = `name-${what.replace(/\W+/g, "-")}.json`;
    c.invalid(
      `name as ${what}`,
      c.json(file, { ...BASE, name }),
      diag(file, "name", `name must be a string, got ${JSON.stringify(name)} (write it in quotes`, "DF202"),
    );
  }
  for (const [what, schema] of [
    ["a number", 5],
    ["null", null],
    ["an object", {}],
  ] as const) {
    const file = `schema-${what.replace(/\W+/g, "-")}.json`;
    c.invalid(
      `$schema as ${what}`,
      c.json(file, { $schema: schema, ...BASE }),
      diag(file, "$schema", "$schema must be a string", "DF202"),
    );
  }
  c.invalid(
    "an empty name",
    c.json("name-empty.json", { ...BASE, name: "" }),
    diag("name-empty.json", "name", "must not be empty", "DF203"),
  );
  for (const [what, name] of [
    ["__proto__", "__proto__"],
    ["constructor", "constructor"],
    ["a path", "../../etc/passwd"],
    ["a NUL character", "a\u0000b"],
    ["10,000 characters", "n".repeat(10_000)],
    ["emoji and RTL text", "🦄 مرحبا"],
  ] as const) {
    c.valid(`the name ${what}`, c.json(`name-ok-${what.replace(/\W+/g, "-")}.json`, { ...BASE, name }));
  }
  c.invalid(
    "a top-level array",
    c.write("top-array.json", `[${base}]`),
    diag("top-array.json", "(root)", "a spec must be an object", "DF202"),
  );
  c.invalid(
    "a top-level null",
    c.write("top-null.json", "null"),
    diag("top-null.json", "(root)", "a spec must be an object", "DF202"),
  );
  c.invalid(
    "a top-level string",
    c.write("top-string.json", '"spec"'),
    diag("top-string.json", "(root)", "a spec must be an object", "DF202"),
  );
}
