// The pieces that keep reading a spec bounded: the line table (binary search, not a rescan per
// position), the bracket scan that runs before any recursive parser, the reserved-key guards of
// the writers, and the fingerprint the corpus uses to catch prototype pollution.
import { describe, expect, it } from "vitest";
import { deepMerge } from "../src/compiler/compose.ts";
import { LineIndex, tooDeepAt } from "../src/compiler/load/source-text.ts";
import { measureValue } from "../src/compiler/reserved-keys.ts";
import { setAtPattern } from "../src/compiler/spec-path.ts";
import { builtinsSnapshot, changedBuiltins } from "./helpers/builtins.ts";

/** line:column by counting from the start, as the reader did before the table. */
function naive(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split("\n");
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

describe("LineIndex", () => {
  it("gives the line and column of every offset", () => {
    const text = 'a\n\n{"b": 1,\n  "c": [\n]}\n';
    const index = new LineIndex(text);
    for (let i = 0; i <= text.length; i++) expect(index.at(i), `offset ${i}`).toEqual(naive(text, i));
  });
});

describe("tooDeepAt", () => {
  it("finds the first bracket past the limit", () => {
    expect(tooDeepAt("[[[]]]", 3)).toBeUndefined();
    expect(tooDeepAt("[[[[]]]]", 3)).toBe(3);
    expect(tooDeepAt(`{"a": ${"[".repeat(100_000)}`, 64)).toBe(6 + 63);
  });

  it("does not count brackets in strings, comments or template text", () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: scanned text with a template literal
    const quiet = "\"[[[[\" '{{{{' // ((((\n /* [[[[ */ `[[[[ ${ [ ] } [[[[`";
    // Only the substitution and the brackets inside it nest: two levels.
    expect(tooDeepAt(quiet, 2)).toBeUndefined();
    expect(tooDeepAt('"\\"[[[["', 0)).toBeUndefined();
  });

  it("counts a template's substitutions as nesting", () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: scanned text with nested templates
    expect(tooDeepAt("`${`${`${1}`}`}`", 2)).toBe(7);
  });
});

describe("writers refuse keys that reach prototypes", () => {
  it("setAtPattern does not follow constructor.prototype or __proto__", () => {
    const before = builtinsSnapshot();
    for (const pattern of [
      ["constructor", "prototype", "polluted"],
      ["__proto__", "polluted"],
      ["prototype"],
    ]) {
      const r = setAtPattern({}, pattern, 1);
      expect("error" in r, pattern.join(".")).toBe(true);
    }
    expect(changedBuiltins(before, builtinsSnapshot())).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("deepMerge keeps a reserved key out of the merged object", () => {
    const over = JSON.parse('{"__proto__": {"polluted": 1}, "a": 2}') as Record<string, never>;
    const merged = deepMerge({ a: 1 }, over);
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(merged).toEqual({ a: 2 });
  });

  it("measureValue finds a reserved key at any depth, and stops at the nesting limit", () => {
    const value = JSON.parse('{"a": [{"b": {"constructor": 1}}]}') as unknown;
    expect(measureValue(value).reserved).toEqual(["a", 0, "b", "constructor"]);
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(measureValue(deep).tooDeep).toHaveLength(64);
  });
});

describe("builtins fingerprint", () => {
  it("notices an added, a replaced and a removed property", () => {
    const before = builtinsSnapshot();
    const proto = Object.prototype as unknown as Record<string, unknown>;
    const original = Object.prototype.toString;
    try {
      proto.polluted = 1;
      Object.prototype.toString = () => "x";
      expect(changedBuiltins(before, builtinsSnapshot()).sort()).toEqual([
        "Object.prototype.polluted (added)",
        "Object.prototype.toString (replaced)",
      ]);
    } finally {
      delete proto.polluted;
      Object.prototype.toString = original;
    }
    expect(changedBuiltins(before, builtinsSnapshot())).toEqual([]);
  });
});
