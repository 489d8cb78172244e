// Maps zod issues to diffit diagnostics: one diagnostic per problem, with the offending
// value, what was expected and, for typos, the nearest accepted key or value.
import type { z } from "zod";
import { closest, type Diagnostic, error, type SpecPath } from "./diagnostics.ts";
import { ownValue } from "./reserved-keys.ts";
import { knownKeys } from "./schema/walk.ts";

function valueAt(data: unknown, path: SpecPath): unknown {
  let d = data;
  for (const seg of path) d = ownValue(d, seg);
  return d;
}

function show(v: unknown): string {
  if (v === undefined) return "nothing";
  const text = JSON.stringify(v);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number" && !Number.isInteger(v)) return "number";
  return typeof v;
}

function listing(values: readonly unknown[]): string {
  return values.map((v) => JSON.stringify(v)).join(", ");
}

function suggestValue(got: unknown, allowed: readonly unknown[]): string | undefined {
  if (typeof got !== "string") return undefined;
  const best = closest(
    got,
    allowed.filter((a): a is string => typeof a === "string"),
  );
  return best === undefined ? undefined : `did you mean ${JSON.stringify(best)}?`;
}

function oneIssue(issue: z.core.$ZodIssue, data: unknown, schema: z.core.$ZodType): Diagnostic[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
  const got = valueAt(data, path);
  switch (issue.code) {
    case "unrecognized_keys": {
      const keys = knownKeys(schema, data, path);
      return issue.keys.map((key) => {
        const near = closest(key, keys);
        return error(
          "DF201",
          [...path, key],
          `unknown key ${JSON.stringify(key)}`,
          near ? `did you mean ${JSON.stringify(near)}?` : `allowed keys: ${keys.join(", ")}`,
        );
      });
    }
    case "invalid_type": {
      if (got === undefined) {
        return [
          error("DF205", path, `missing required field (expected ${issue.expected})`, "add it to the spec"),
        ];
      }
      const expected =
        issue.expected === "int"
          ? "an integer"
          : `${/^[aeiou]/.test(issue.expected) ? "an" : "a"} ${issue.expected}`;
      return [error("DF202", path, `expected ${expected}, got ${typeName(got)} ${show(got)}`)];
    }
    case "too_small":
    case "too_big": {
      const small = issue.code === "too_small";
      const bound = small ? issue.minimum : issue.maximum;
      const inclusive = issue.inclusive ?? true;
      if (issue.origin === "array") {
        return [
          error("DF203", path, `needs ${small ? "at least" : "at most"} ${bound} item(s), got ${show(got)}`),
        ];
      }
      if (issue.origin === "string") return [error("DF203", path, "must not be empty")];
      const rel = small ? (inclusive ? "≥" : ">") : inclusive ? "≤" : "<";
      return [error("DF203", path, `must be ${rel} ${bound}, got ${show(got)}`)];
    }
    case "invalid_value":
      return [
        error(
          "DF204",
          path,
          `${show(got)} is not allowed here; expected one of ${listing(issue.values)}`,
          suggestValue(got, issue.values),
        ),
      ];
    case "invalid_union": {
      if (
        "discriminator" in issue &&
        issue.discriminator &&
        "options" in issue &&
        Array.isArray(issue.options)
      ) {
        const field = issue.path.at(-1) === issue.discriminator ? path : [...path, issue.discriminator];
        const disc = valueAt(data, field);
        const options = issue.options as unknown[];
        return [
          disc === undefined
            ? error("DF205", field, `missing required field; expected one of ${listing(options)}`)
            : error(
                "DF204",
                field,
                `${show(disc)} is not one of ${listing(options)}`,
                suggestValue(disc, options),
              ),
        ];
      }
      return [error("DF202", path, `${show(got)} does not match any accepted form (${issue.message})`)];
    }
    default:
      return [error("DF206", path, `${issue.message} (got ${show(got)})`)];
  }
}

export function issuesToDiagnostics(
  issues: readonly z.core.$ZodIssue[],
  data: unknown,
  schema: z.core.$ZodType,
): Diagnostic[] {
  return issues.flatMap((issue) => oneIssue(issue, data, schema));
}
