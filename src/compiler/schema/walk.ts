// Finds the sub-schema at a data path, so diagnostics can list the keys and values a
// position accepts ("did you mean") without hard-coding them a second time.
import { z } from "zod";
import type { SpecPath } from "../diagnostics.ts";
import { ownValue } from "../reserved-keys.ts";

type AnyZod = z.core.$ZodType;

function unwrap(s: AnyZod): AnyZod {
  let cur = s;
  for (;;) {
    if (cur instanceof z.ZodDefault || cur instanceof z.ZodPrefault) cur = cur.unwrap();
    else if (cur instanceof z.ZodOptional || cur instanceof z.ZodNullable) cur = cur.unwrap();
    else if (cur instanceof z.ZodLazy) cur = cur.unwrap();
    else if (cur instanceof z.ZodPipe) cur = cur.in;
    else return cur;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Picks the union option matching the data's discriminator, or the first object option. */
function pickOption(u: z.ZodUnion, data: unknown): AnyZod | undefined {
  const options = u.options as readonly AnyZod[];
  if (u instanceof z.ZodDiscriminatedUnion && isRecord(data)) {
    const key = u.def.discriminator;
    for (const o of options) {
      const inner = unwrap(o);
      if (inner instanceof z.ZodObject) {
        const lit = unwrap(inner.shape[key] as AnyZod);
        if (lit instanceof z.ZodLiteral && lit.values.has(data[key] as never)) return inner;
      }
    }
  }
  return options.map(unwrap).find((o) => o instanceof z.ZodObject) ?? options[0];
}

/** The (unwrapped) schema describing the value at `path` of `data`, when there is one. */
export function schemaAt(root: AnyZod, data: unknown, path: SpecPath): AnyZod | undefined {
  let s: AnyZod | undefined = unwrap(root);
  let d: unknown = data;
  for (const seg of path) {
    if (!s) return undefined;
    if (s instanceof z.ZodUnion) s = pickOption(s, d);
    if (!s) return undefined;
    s = unwrap(s);
    if (s instanceof z.ZodObject && typeof seg === "string") s = ownValue(s.shape, seg) as AnyZod | undefined;
    else if (s instanceof z.ZodArray) s = s.element as AnyZod;
    else if (s instanceof z.ZodTuple && typeof seg === "number") s = s.def.items[seg] as AnyZod | undefined;
    else if (s instanceof z.ZodRecord) s = s.valueType as AnyZod;
    else return undefined;
    s = s ? unwrap(s) : undefined;
    d = ownValue(d, seg);
  }
  if (s instanceof z.ZodUnion) s = pickOption(s, d);
  return s ? unwrap(s) : undefined;
}

/** Keys an object position accepts. */
export function knownKeys(root: AnyZod, data: unknown, path: SpecPath): string[] {
  const s = schemaAt(root, data, path);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

/** The description attached to the field at `path` (for hints and docs). */
export function describeAt(root: AnyZod, data: unknown, path: SpecPath): string | undefined {
  const s = schemaAt(root, data, path);
  return s && "description" in s && typeof s.description === "string" ? s.description : undefined;
}
