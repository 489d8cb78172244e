// The protobuf text format writer and parser behind config.pbtxt: what is written parses back to
// the same fields and values (any string, any safe integer, nested and repeated messages), the
// parser reads the syntax variants the format allows, and it refuses malformed text by line.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatPbtxt,
  type PbMessage,
  type PbtxtField,
  PbtxtSyntaxError,
  parsePbtxt,
  pbEnum,
} from "../src/runtime/deploy/pbtxt.ts";

/** Fields as plain data: name → values (message values recursively). */
function plain(fields: readonly PbtxtField[]): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const f of fields) {
    const v = f.value;
    const value = v.kind === "message" ? plain(v.fields) : v.value;
    out[f.name] = [...(out[f.name] ?? []), value];
  }
  return out;
}

describe("protobuf text format", () => {
  it("writes strings, integers, enums, booleans, nested and repeated fields that parse back", () => {
    const text = formatPbtxt({
      name: 'a "quoted" \\ name\n',
      count: -3,
      kind: pbEnum("KIND_CPU"),
      on: true,
      dims: [1, 28, 28],
      empty: [],
      nested: { shape: [] },
      input: [{ name: "x" }, { name: "sigma", reshape: { shape: [] } }],
      skipped: undefined,
    });
    expect(plain(parsePbtxt(text))).toEqual({
      name: ['a "quoted" \\ name\n'],
      count: [-3],
      kind: ["KIND_CPU"],
      on: ["true"],
      dims: [1, 28, 28],
      nested: [{}],
      input: [{ name: ["x"] }, { name: ["sigma"], reshape: [{}] }],
    });
    // Lists are marked as lists: the schema check tells repeated fields by it.
    expect(
      parsePbtxt(text)
        .filter((f) => f.inList)
        .map((f) => f.name),
    ).toEqual(["dims", "dims", "dims", "input", "input"]);
  });

  it("round-trips any string and any safe integer (property, 300 cases)", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme" }),
        fc.maxSafeInteger(),
        fc.array(fc.integer()),
        (s, n, list) => {
          const m: PbMessage = { s, n, list, sub: [{ s }, { n }] };
          expect(plain(parsePbtxt(formatPbtxt(m)))).toEqual({
            s: [s],
            n: [n],
            // An empty list writes no occurrence: proto3 reads it as the empty default.
            ...(list.length > 0 ? { list } : {}),
            sub: [{ s: [s] }, { n: [n] }],
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reads the other spellings the format allows: comments, colons before messages, <>, ; and , separators, adjacent strings, octal and hex escapes", () => {
    const text = `# a comment
      name: "ab" 'c\\x64' "\\145"  # trailing comment
      reshape: { shape: [ ] };
      version_policy < latest { num_versions: 2 } >,
      input: [ { name: "x" } ]
      dims: 4 dims: 5`;
    expect(plain(parsePbtxt(text))).toEqual({
      name: ["abcde"],
      reshape: [{}],
      version_policy: [{ latest: [{ num_versions: [2] }] }],
      input: [{ name: ["x"] }],
      dims: [4, 5],
    });
  });

  it("refuses malformed text, naming the line", () => {
    const cases: [string, RegExp][] = [
      ['name: "open', /line 1: a string is not closed/],
      ["a {\n b: 1\n", /line 3: expected "}"/],
      ["dims [1, 2]", /line 1: dims: a list of values needs a colon/],
      ['name "x"', /line 1: name: expected ":" before its value/],
      ["\n\n: 3", /line 3: expected a field name/],
      ["a: [1 2]", /line 1: expected ","/],
      ["a: $", /line 1: unexpected character/],
      ['a: "\\q"', /line 1: unknown escape/],
    ];
    for (const [text, message] of cases) {
      expect(() => parsePbtxt(text), text).toThrow(PbtxtSyntaxError);
      expect(() => parsePbtxt(text), text).toThrow(message);
    }
  });

  it("the writer refuses what the format cannot hold: fractions, bad names", () => {
    expect(() => formatPbtxt({ a: 1.5 })).toThrow(/a: 1.5 is not an integer/);
    expect(() => formatPbtxt({ "bad name": 1 })).toThrow(/not a field name/);
    expect(() => formatPbtxt({ k: pbEnum("TYPE FP32") })).toThrow(/not an enum name/);
  });
});
