// Hostile TypeScript specs: syntax nested past what TypeScript's parser and checker take, values
// that grow exponentially through consts and spreads, keys and accesses that reach prototypes,
// code that must never run, and imports of what is not a spec (a FIFO must not block the
// evaluator or the type checker). A sibling file that breaks the checker must not matter.
import { type Corpus, diag, tsSpec } from "./hostile-files.ts";

/** Where running a spec's code would leave a mark (it must never exist). */
export const EXECUTED_MARK = "executed.txt";

export function tsSyntaxCases(c: Corpus): void {
  const deep: [string, string, string, string][] = [
    [
      "1,000 nested arrays",
      `description: ${"[".repeat(1000)}${"]".repeat(1000)},`,
      "brackets nest more than 256 levels deep here",
      "flatten the expression",
    ],
    [
      "100,000 nested parentheses",
      `description: ${"(".repeat(100_000)}"x"${")".repeat(100_000)},`,
      "brackets nest more than 256",
      "",
    ],
    ["20,000 unary minuses", `description: ${"- ".repeat(20_000)}1,`, "expressions nest more than 256", ""],
    ["20,000 logical nots", `description: ${"!".repeat(20_000)}1,`, "expressions nest more than 256", ""],
    [
      "20,000 property accesses",
      `description: x${".y".repeat(20_000)},`,
      "expressions nest more than 256",
      "",
    ],
    ["50,000 additions", `description: 1${"+1".repeat(50_000)},`, "expressions nest more than 256", ""],
    [
      "20,000 as-const",
      `description: "x"${" as const".repeat(20_000)},`,
      "expressions nest more than 256",
      "",
    ],
    [
      "a 5,000-deep generic type",
      `description: "x" as ${"Array<".repeat(5000)}string${">".repeat(5000)},`,
      "nest more than 256",
      "",
    ],
  ];
  for (const [name, extra, message, hint] of deep) {
    const file = `ts-deep-${name.replace(/\W+/g, "-")}.ts`;
    c.invalid(
      name,
      c.write(file, tsSpec(extra, "const x = {};")),
      diag(file, "(root)", message, "DF108"),
      hint,
    );
  }
  let reverse = "";
  for (let i = 3000; i > 0; i--) reverse += `const b${i} = [b${i - 1}];\n`;
  c.invalid(
    "3,000 consts, each wrapping the next",
    c.write("ts-const-chain.ts", tsSpec("description: b3000,", `${reverse}const b0 = 1;`)),
    diag("ts-const-chain.ts", "(root)", "levels deep here", "DF108"),
  );
  let laughs = "const a0 = [1];\n";
  for (let i = 1; i <= 40; i++) laughs += `const a${i} = [a${i - 1}, a${i - 1}];\n`;
  c.invalid(
    "2^40 values through consts",
    c.write("ts-laughs.ts", tsSpec("description: a40,", laughs)),
    diag(
      "ts-laughs.ts",
      "(root)",
      "more than 10000 values here once consts and spreads are written out",
      "DF108",
    ),
  );
  const spreads = `description: [${"...a, ".repeat(50_000)}],`;
  c.invalid(
    "50,000 spreads of one array",
    c.write("ts-spreads.ts", tsSpec(spreads, "const a = [1, 2, 3, 4, 5, 6, 7, 8];")),
    diag("ts-spreads.ts", "description", "more than 10000 values", "DF108"),
  );
  c.invalid(
    "100,000 array items",
    c.write("ts-items.ts", tsSpec(`description: [${"0,".repeat(100_000)}],`)),
    diag("ts-items.ts", "description", "more than 10000 values", "DF108"),
  );
  c.invalid(
    "a 1e400 literal",
    c.write("ts-1e400.ts", tsSpec("dropout: 1e400,")),
    diag("ts-1e400.ts", "dropout", "the number 1e400 is too large for a 64-bit float", "DF203"),
  );
  c.invalid(
    "NaN in TypeScript",
    c.write("ts-nan.ts", tsSpec("dropout: NaN,")),
    diag("ts-nan.ts", "dropout", "unsupported construct", "DF103"),
  );
  c.invalid(
    "0 / 0",
    c.write("ts-div.ts", tsSpec("dropout: 0 / 0,")),
    diag("ts-div.ts", "dropout", "BinaryExpression", "DF103"),
  );
}

export function tsKeyCases(c: Corpus): void {
  const keys: [string, string, string, string][] = [
    ["a __proto__ key", "__proto__: { toString: 1 },", "__proto__", "DF107"],
    ['a "constructor" key', '"constructor": { prototype: 1 },', "constructor", "DF107"],
    ["a shorthand prototype key", "prototype,", "prototype", "DF107"],
    ["x.constructor", "description: x.constructor,", "description", "DF107"],
    ['x["__proto__"]', 'description: x["__proto__"],', "description", "DF107"],
  ];
  for (const [name, extra, path, code] of keys) {
    const file = `ts-key-${name.replace(/\W+/g, "-")}.ts`;
    const spec = c.write(file, tsSpec(extra, "const x = { y: 1 };\nconst prototype = 1;"));
    c.add(
      name,
      ["validate", "--no-typecheck", spec],
      1,
      diag(file, path, "is not allowed: it would reach JavaScript's object prototypes", code),
    );
  }
}

export function tsCodeCases(c: Corpus): void {
  const mark = c.path(EXECUTED_MARK);
  const code: [string, string, string][] = [
    ["process.exit", "description: process.exit(3),", "CallExpression"],
    [
      "require and writeFileSync",
      `description: require("node:fs").writeFileSync(${JSON.stringify(mark)}, "ran"),`,
      "CallExpression",
    ],
    [
      "an immediately invoked function",
      `description: (() => { require("node:fs").writeFileSync(${JSON.stringify(mark)}, "ran"); return "x"; })(),`,
      "CallExpression",
    ],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the spec's own template literal
    ["a template with a call", "description: `${process.exit(4)}`,", "TemplateExpression"],
    ["a getter", "get description() { return process.exit(5); },", "GetAccessor"],
    ["a computed key", '[Symbol.for("x")]: 1,', "ComputedPropertyName"],
    ["new Function", 'description: new Function("process.exit(6)")(),', "CallExpression"],
    ["eval", 'description: eval("process.exit(7)"),', "CallExpression"],
    ["a method", "toString() { return process.exit(8); },", "MethodDeclaration"],
  ];
  for (const [name, extra, kind] of code) {
    const file = `ts-code-${name.replace(/\W+/g, "-")}.ts`;
    c.add(
      `${name} is not run`,
      ["validate", "--no-typecheck", c.write(file, tsSpec(extra))],
      1,
      diag(file, "", `unsupported construct in a TypeScript spec: ${kind}`, "DF103"),
      /specs are read statically/,
    );
  }
  const statements = c.write("ts-statements.ts", `${tsSpec()}\nconsole.log("ran");\nprocess.exit(9);\n`);
  c.add(
    "top-level statements are not run",
    ["validate", "--no-typecheck", statements],
    1,
    diag("ts-statements.ts", "(root)", "ExpressionStatement", "DF103"),
  );
  c.add(
    "a side-effect import is not run",
    ["validate", "--no-typecheck", c.write("ts-side-effect.ts", tsSpec("", 'import "./ts-statements.ts";'))],
    1,
    diag("ts-side-effect.ts", "(root)", "side-effect import", "DF103"),
  );
  c.add(
    "an import of node:fs",
    [
      "validate",
      "--no-typecheck",
      c.write("ts-node-import.ts", tsSpec("description: fs,", 'import fs from "node:fs";')),
    ],
    1,
    diag(
      "ts-node-import.ts",
      "description",
      'imported from "node:fs", which is not a .ts or .json spec',
      "DF103",
    ),
  );
  c.add(
    "export = instead of export default",
    ["validate", "--no-typecheck", c.write("ts-export-equals.ts", "export = { family: 'image' };\n")],
    1,
    diag("ts-export-equals.ts", "(root)", "", "DF103"),
  );
  c.add(
    "a const referring to itself",
    ["validate", "--no-typecheck", c.write("ts-self.ts", tsSpec("description: z,", "const z = [z];"))],
    1,
    diag("ts-self.ts", "", "refers to itself", "DF103"),
  );
}

export function tsImportCases(c: Corpus): void {
  c.fifo("ts-pipe.ts");
  c.invalid(
    "an import of a FIFO",
    c.write("ts-import-fifo.ts", tsSpec("description: pipe,", 'import pipe from "./ts-pipe.ts";')),
    diag("ts-import-fifo.ts", "(root)", "is a FIFO (named pipe)", "DF101"),
  );
  c.invalid(
    "a type-only import of a FIFO",
    c.write(
      "ts-import-type-fifo.ts",
      tsSpec("description: 'x' as Pipe,", 'import type Pipe from "./ts-pipe.ts";'),
    ),
    diag("ts-import-type-fifo.ts", "", "Cannot find module './ts-pipe.ts'", "DF104"),
  );
  c.link("ts-zero.ts", "/dev/zero");
  c.invalid(
    "an import of /dev/zero",
    c.write("ts-import-zero.ts", tsSpec("description: zero,", 'import zero from "./ts-zero.ts";')),
    diag("ts-import-zero.ts", "(root)", "character device", "DF101"),
  );
  c.write("ts-huge.ts", `export const big = "${"x".repeat(1024 * 1024)}";\n`);
  c.invalid(
    "an import of a file over 1 MiB",
    c.write("ts-import-huge.ts", tsSpec("description: big,", 'import { big } from "./ts-huge.ts";')),
    diag("ts-import-huge.ts", "(root)", "more than the 1 MiB", "DF101"),
  );
  c.invalid(
    "a type-only import of a file over 1 MiB",
    c.write(
      "ts-import-type-huge.ts",
      tsSpec("", 'import type { big } from "./ts-huge.ts";\ntype B = typeof big;'),
    ),
    diag("ts-import-type-huge.ts", "", "Cannot find module './ts-huge.ts'", "DF104"),
  );
  // 100 modules, each importing the next: more than the 64 files one spec may read.
  for (let i = 0; i < 100; i++)
    c.write(`ts-chain/m${i}.ts`, `import { v as u } from "./m${i + 1}.ts";\nexport const v = u;\n`);
  c.write("ts-chain/m100.ts", "export const v = 1;\n");
  c.invalid(
    "an import chain of 100 modules",
    c.write("ts-chain/root.ts", tsSpec("description: v,", 'import { v } from "./m0.ts";')),
    diag("m62.ts", "(root)", "this spec reads more than 64 spec files through extends and imports", "DF108"),
  );
  c.write("ts-cycle-a.ts", 'import { b } from "./ts-cycle-b.ts";\nexport const a = [b];\n');
  c.write("ts-cycle-b.ts", 'import { a } from "./ts-cycle-a.ts";\nexport const b = [a];\n');
  c.invalid(
    "an import cycle",
    c.write("ts-import-cycle.ts", tsSpec("description: a,", 'import { a } from "./ts-cycle-a.ts";')),
    diag("ts-cycle-b.ts", "(root)", "import cycle", "DF103"),
  );
  c.write("ts-type-deep.ts", `export type Deep = ${"Array<".repeat(100_000)}string${">".repeat(100_000)};\n`);
  c.invalid(
    "a type-only import of a 100,000-deep type",
    c.write(
      "ts-import-type-deep.ts",
      tsSpec("", 'import type { Deep } from "./ts-type-deep.ts";\ntype D = Deep;'),
    ),
    diag("ts-import-type-deep.ts", "(root)", "the TypeScript checker ran out of stack", "DF108"),
  );
  // A valid spec beside a sibling that would overflow the checker: siblings are not checked.
  c.write("ts-sibling/bomb.ts", `export const x = ${"[".repeat(100_000)}${"]".repeat(100_000)};\n`);
  c.valid("a valid spec beside a hostile sibling", c.write("ts-sibling/spec.ts", tsSpec()));
  c.valid("a .mts spec with a byte-order mark", c.write("ts-bom.mts", `\uFEFF${tsSpec()}`));
  c.invalid(
    "a .ts spec with a Latin-1 byte",
    c.write("ts-latin1.ts", Buffer.from(tsSpec("description: 'Modèle',"), "latin1")),
    diag("ts-latin1.ts", "(root)", "is not UTF-8 text", "DF109"),
  );
  c.invalid(
    "a .ts spec over 1 MiB",
    c.write("ts-over.ts", tsSpec(`description: "${"x".repeat(1024 * 1024)}",`)),
    diag("ts-over.ts", "(root)", "more than the 1 MiB", "DF101"),
  );
  c.invalid(
    "a .ts spec with name: 123",
    c.write("ts-name.ts", tsSpec().replace('name: "ts"', "name: 123")),
    diag("ts-name.ts", "name", "name must be a string, got 123", "DF202"),
  );
  c.invalid(
    "an unterminated comment",
    c.write("ts-comment.ts", `${tsSpec()}/* never closed`),
    diag("ts-comment.ts", "", "'*/' expected", "DF104"),
  );
}
