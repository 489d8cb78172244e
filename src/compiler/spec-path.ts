// Paths used by variants: "depth", "attention.mode", "stages[2].windowSize", "stages[*].depth".
import { formatPath } from "./diagnostics.ts";
import { isReservedKey, ownValue } from "./reserved-keys.ts";
import type { JsonValue } from "./schema/spec.ts";

export type PatternSegment = string | number | "*";

/** Parses a variant path, or returns an error message. */
export function parseVariantPath(text: string): PatternSegment[] | string {
  const out: PatternSegment[] = [];
  const re = /([A-Za-z_$][\w$]*)|\[(\d+|\*)\]|(\.)/gy;
  let expectName = true;
  let m: RegExpExecArray | null = re.exec(text);
  while (m !== null) {
    if (m[1] !== undefined) {
      if (!expectName) return `unexpected "${m[1]}" at ${m.index}`;
      out.push(m[1]);
      expectName = false;
    } else if (m[2] !== undefined) {
      if (expectName) return `"[" must follow a name at ${m.index}`;
      out.push(m[2] === "*" ? "*" : Number(m[2]));
    } else {
      if (expectName) return `unexpected "." at ${m.index}`;
      expectName = true;
    }
    if (re.lastIndex === text.length) break;
    m = re.exec(text);
  }
  if (re.lastIndex !== text.length || out.length === 0 || expectName)
    return `cannot parse "${text}" as a path`;
  return out;
}

type Json = JsonValue | undefined;

function isObject(v: unknown): v is Record<string, JsonValue> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Sets `value` at every place `pattern` matches inside `root` (mutating it) and returns the
 * concrete paths written, or an error naming the first segment that does not exist.
 * Missing object keys are created; missing array elements are an error. Only own properties
 * are followed and reserved keys are refused, so no pattern reaches a prototype.
 */
export function setAtPattern(
  root: Record<string, JsonValue>,
  pattern: readonly PatternSegment[],
  value: JsonValue,
): { written: (string | number)[][] } | { error: string; hint?: string } {
  const written: (string | number)[][] = [];
  let hint: string | undefined;
  const walk = (node: Json, i: number, at: (string | number)[]): string | undefined => {
    const seg = pattern[i];
    const last = i === pattern.length - 1;
    if (seg === "*") {
      if (!Array.isArray(node)) return `${formatPath(at)} is not an array`;
      for (let k = 0; k < node.length; k++) {
        if (last) {
          node[k] = structuredClone(value);
          written.push([...at, k]);
        } else {
          const e = walk(node[k], i + 1, [...at, k]);
          if (e) return e;
        }
      }
      return undefined;
    }
    if (typeof seg === "number") {
      if (!Array.isArray(node)) return `${formatPath(at)} is not an array`;
      if (seg >= node.length) {
        hint =
          node.length > 0
            ? `indices of ${formatPath(at)} run from 0 to ${node.length - 1}`
            : `${formatPath(at)} is empty`;
        return `${formatPath([...at, seg])} does not exist`;
      }
      if (last) {
        node[seg] = structuredClone(value);
        written.push([...at, seg]);
        return undefined;
      }
      return walk(node[seg], i + 1, [...at, seg]);
    }
    if (seg === undefined || !isObject(node)) return `${formatPath(at)} is not an object`;
    if (isReservedKey(seg)) return `${JSON.stringify(seg)} reaches JavaScript's object prototypes`;
    if (last) {
      node[seg] = structuredClone(value);
      written.push([...at, seg]);
      return undefined;
    }
    if (!Object.hasOwn(node, seg)) node[seg] = {};
    return walk(ownValue(node, seg) as Json, i + 1, [...at, seg]);
  };
  const e = walk(root, 0, []);
  if (!e) return { written };
  return hint ? { error: e, hint } : { error: e };
}
