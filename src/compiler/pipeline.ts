// The front end: read → compose (extends) → expand variants → validate (zod) → derived
// defaults → semantic checks. Every stage collects diagnostics; none throws on bad input.
import { createHash } from "node:crypto";
import type { z } from "zod";
import { LIMITS } from "../limits.ts";
import { composeSpec, expandVariants, type SpecInstance } from "./compose.ts";
import { type Diagnostic, error, hasErrors, type SourceLocation } from "./diagnostics.ts";
import type { ReadOptions } from "./load/read-spec.ts";
import { measureValue, ownValue, reservedKey } from "./reserved-keys.ts";
import { type ResolvedSpec, resolveDefaults } from "./resolve-defaults.ts";
import { modelSpec } from "./schema/spec.ts";
import { issuesToDiagnostics } from "./schema-issues.ts";
import { semanticChecks } from "./semantic-checks.ts";

export interface ResolvedEntry {
  name: string;
  /** The file the spec was read from. */
  file: string;
  /** Set for specs produced by a file's `variants`. */
  variant?: string;
  /** A variant's settings: written path → value (see compose.ts). */
  settings?: Record<string, string>;
  spec: ResolvedSpec;
  /** sha256 of the canonical JSON of the resolved spec (first 16 hex digits). */
  hash: string;
  /** Warnings (a resolved entry has no errors). */
  diagnostics: Diagnostic[];
}

export interface FrontEndResult {
  file: string;
  entries: ResolvedEntry[];
  /** Every error and warning of the file and its variants. */
  diagnostics: Diagnostic[];
  ok: boolean;
}

/**
 * JSON with sorted keys, so equal specs hash equally whatever order their fields were written
 * in. It is given resolved specs, whose depth the schema bounds; deeper input is a bug.
 */
export function canonicalJson(v: unknown, depth = 0): string {
  if (depth > LIMITS.specNesting)
    throw new Error(`canonicalJson: value nested deeper than ${LIMITS.specNesting}`);
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x, depth + 1)).join(",")}]`;
  if (typeof v === "object" && v !== null) {
    const entries = Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x, depth + 1)}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

export function specHash(spec: ResolvedSpec): string {
  return createHash("sha256").update(canonicalJson(spec)).digest("hex").slice(0, 16);
}

/**
 * What the readers guarantee, checked again for values built in code: bounded depth and size
 * (zod and the checks below recurse on the value), no reserved keys.
 */
function shapeErrors(value: unknown): Diagnostic[] {
  const shape = measureValue(value);
  if (shape.reserved) return [reservedKey(shape.reserved, String(shape.reserved.at(-1)))];
  if (shape.tooDeep) {
    const message = `objects and arrays nest more than ${LIMITS.specNesting} levels deep here`;
    return [error("DF108", shape.tooDeep, message, "flatten the value")];
  }
  if (shape.values > LIMITS.specValues) {
    return [
      error("DF108", [], `more than ${LIMITS.specValues} values in one spec`, "a spec needs a few hundred"),
    ];
  }
  return [];
}

/** Validates one instance: schema, derived defaults, semantic checks. `spec` is set only without errors. */
export function validateInstance(value: unknown): { spec?: ResolvedSpec; diagnostics: Diagnostic[] } {
  const refused = shapeErrors(value);
  if (refused.length > 0) return { diagnostics: refused };
  const parsed = modelSpec.safeParse(value);
  if (!parsed.success) {
    const diagnostics = issuesToDiagnostics(parsed.error.issues, value, modelSpec);
    return { diagnostics: [...diagnostics, ...checksWithoutUnknownKeys(value, parsed.error.issues)] };
  }
  const spec = resolveDefaults(parsed.data);
  const diagnostics = semanticChecks(spec);
  return hasErrors(diagnostics) ? { diagnostics } : { spec, diagnostics };
}

/**
 * A misspelt key is the most common mistake; when it is the only kind of schema error, the
 * spec without those keys still gets its semantic checks, so all errors come in one run.
 */
function checksWithoutUnknownKeys(value: unknown, issues: readonly z.core.$ZodIssue[]): Diagnostic[] {
  if (!issues.every((i) => i.code === "unrecognized_keys")) return [];
  const copy = structuredClone(value);
  for (const issue of issues) {
    if (issue.code !== "unrecognized_keys") continue;
    let node: unknown = copy;
    for (const seg of issue.path) node = typeof seg === "symbol" ? undefined : ownValue(node, seg);
    if (typeof node !== "object" || node === null) continue;
    for (const key of issue.keys) if (Object.hasOwn(node, key)) delete (node as Record<string, unknown>)[key];
  }
  const again = modelSpec.safeParse(copy);
  return again.success ? semanticChecks(resolveDefaults(again.data)) : [];
}

const sameLocation = (a?: SourceLocation, b?: SourceLocation) =>
  a?.file === b?.file && a?.line === b?.line && a?.column === b?.column;

/** The location of a diagnostic: its own field when written, else its `locateAt` fallback. */
function locationOf(instance: SpecInstance, d: Diagnostic): SourceLocation | undefined {
  const own = instance.locate(d.path);
  if (!d.locateAt || d.path.length === 0) return own;
  const written = !sameLocation(own, instance.locate(d.path.slice(0, -1)));
  return written ? own : instance.locate(d.locateAt);
}

function place(instance: SpecInstance, ds: Diagnostic[]): Diagnostic[] {
  return ds.map((d) => ({
    ...d,
    location: d.location ?? locationOf(instance, d),
    ...(instance.variant ? { variant: instance.variant } : {}),
  }));
}

export function runFrontEnd(file: string, options: ReadOptions = {}): FrontEndResult {
  const composed = composeSpec(file, options);
  const diagnostics: Diagnostic[] = composed.diagnostics.map((d) => ({
    ...d,
    location: d.location ?? composed.locate(d.path),
  }));
  const entries: ResolvedEntry[] = [];
  if (!hasErrors(diagnostics)) {
    const { instances, diagnostics: vds } = expandVariants(composed);
    diagnostics.push(...vds);
    for (const inst of instances) {
      const r = validateInstance(inst.value);
      const ds = place(inst, r.diagnostics);
      diagnostics.push(...ds);
      if (r.spec && !hasErrors(ds)) {
        entries.push({
          name: inst.name,
          file: composed.file,
          ...(inst.variant ? { variant: inst.variant } : {}),
          ...(inst.settings ? { settings: inst.settings } : {}),
          spec: r.spec,
          hash: specHash(r.spec),
          diagnostics: ds,
        });
      }
    }
  }
  const ok = !hasErrors(diagnostics);
  return { file: composed.file, entries: ok ? entries : [], diagnostics, ok };
}
