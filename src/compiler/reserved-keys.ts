// Keys that reach JavaScript's prototypes. `obj["__proto__"] = v` replaces an object's
// prototype, and a path through "constructor.prototype" reaches Object.prototype itself, so a
// spec that could write them could change how every object in the process behaves. No spec
// field has these names: readers refuse them where they are written, and every writer of user
// keys checks again, so no path leads from a spec to a prototype.
import { LIMITS } from "../limits.ts";
import { type Diagnostic, error, type SpecPath } from "./diagnostics.ts";

const RESERVED = new Set(["__proto__", "constructor", "prototype"]);

export const isReservedKey = (key: string | number): boolean => typeof key === "string" && RESERVED.has(key);

/** DF107 for a reserved key written at `path` (the key is its last segment). */
export function reservedKey(path: SpecPath, key: string): Diagnostic {
  return error(
    "DF107",
    path,
    `the key ${JSON.stringify(key)} is not allowed: it would reach JavaScript's object prototypes`,
    "no spec field has this name; remove or rename it",
  );
}

/** `obj[key]` when `obj` has it as its own property (never an inherited one such as `constructor`). */
export function ownValue(obj: unknown, key: string | number): unknown {
  if (typeof obj !== "object" || obj === null || !Object.hasOwn(obj, key)) return undefined;
  return (obj as Record<string | number, unknown>)[key];
}

export interface ValueShape {
  /** Objects and arrays nested around the deepest value (a scalar is 0). */
  depth: number;
  /** Values in all: objects, arrays and scalars. */
  values: number;
  /** The first reserved key found, with its path. */
  reserved?: SpecPath;
  /** The first path nested deeper than LIMITS.specNesting. */
  tooDeep?: SpecPath;
}

/**
 * Depth, size and reserved keys of a JSON-like value, walked with an explicit stack (never
 * recursion, so any depth is safe): below LIMITS.specNesting, and counting to just past `maxValues`.
 */
export function measureValue(root: unknown, maxValues: number = LIMITS.specValues): ValueShape {
  const shape: ValueShape = { depth: 0, values: 0 };
  const stack: { v: unknown; path: SpecPath }[] = [{ v: root, path: [] }];
  while (stack.length > 0) {
    const { v, path } = stack.pop() as { v: unknown; path: SpecPath };
    shape.values++;
    if (typeof v !== "object" || v === null) continue;
    const depth = path.length + 1;
    if (depth > LIMITS.specNesting) {
      shape.tooDeep ??= path;
      continue;
    }
    shape.depth = Math.max(shape.depth, depth);
    if (shape.values > maxValues) return shape;
    const entries: [string | number, unknown][] = Array.isArray(v) ? [...v.entries()] : Object.entries(v);
    for (const [k, x] of entries) {
      if (isReservedKey(k)) shape.reserved ??= [...path, k];
      else stack.push({ v: x, path: [...path, k] });
    }
  }
  return shape;
}
