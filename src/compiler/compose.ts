// Composition: `extends` (deep override of another spec file) and `variants` (a matrix
// and named settings expanded into separate specs). Both work on plain JSON values, before
// validation, so a derived spec is validated exactly like a hand-written one.
import { basename, dirname, extname, relative, resolve } from "node:path";
import { type Diagnostic, error, type SourceLocation, type SpecPath } from "./diagnostics.ts";
import type { SpecDocument } from "./load/document.ts";
import { type ReadOptions, readSpecDocument } from "./load/read-spec.ts";
import { COMPOSITION_KEYS, type JsonValue, variantsSection } from "./schema/spec.ts";
import { issuesToDiagnostics } from "./schema-issues.ts";
import { type PatternSegment, parseVariantPath, setAtPattern } from "./spec-path.ts";

type JsonObject = Record<string, JsonValue>;
type Locate = (path: SpecPath) => SourceLocation | undefined;

export interface ComposedSpec {
  file: string;
  /** The file's own name, or its base name: names are not inherited through `extends`. */
  name: string;
  /** Model fields after merging the `extends` chain; composition keys removed. */
  value: JsonObject | undefined;
  /** This file's own `variants` section (not inherited), unvalidated. */
  variants: unknown;
  locate: Locate;
  diagnostics: Diagnostic[];
}

export interface SpecInstance {
  name: string;
  /** Set when the instance is a variant of the file's spec. */
  variant?: string;
  /** A variant's settings: written path (e.g. `stages[*].depth`) → value as written. */
  settings?: Record<string, string>;
  value: JsonObject;
  locate: Locate;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; arrays and scalars in `over` replace those in `base`. */
export function deepMerge(base: JsonObject, over: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isObject(b) && isObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

/** Length of the longest prefix of `path` present in `value`. */
function depthIn(value: unknown, path: SpecPath): number {
  let d: unknown = value;
  for (let i = 0; i < path.length; i++) {
    if (typeof d !== "object" || d === null) return i;
    const seg = path[i] as string | number;
    if (!(seg in d)) return i;
    d = (d as Record<string | number, unknown>)[seg];
  }
  return path.length;
}

function display(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.startsWith("..") ? file : rel;
}

function withoutCompositionKeys(v: JsonObject): JsonObject {
  const out = { ...v };
  for (const k of COMPOSITION_KEYS) delete out[k];
  return out;
}

export function composeSpec(file: string, options: ReadOptions = {}, chain: string[] = []): ComposedSpec {
  const abs = resolve(file);
  const doc: SpecDocument = readSpecDocument(display(abs), options);
  const fallbackName = basename(abs, extname(abs));
  const result: ComposedSpec = {
    file: doc.file,
    name: fallbackName,
    value: undefined,
    variants: undefined,
    locate: doc.locate,
    diagnostics: [...doc.diagnostics],
  };
  if (doc.value === undefined) return result;
  if (!isObject(doc.value)) {
    result.diagnostics.push(error("DF202", [], "a spec must be an object"));
    return result;
  }
  const own = doc.value;
  result.variants = own.variants;
  if (typeof own.name === "string") result.name = own.name;
  let merged = withoutCompositionKeys(own);
  const ext = own.extends;
  if (ext !== undefined && typeof ext !== "string") {
    result.diagnostics.push(error("DF202", ["extends"], "extends must be a path to another spec file"));
  } else if (typeof ext === "string") {
    const basePath = resolve(dirname(abs), ext);
    if ([...chain, abs].includes(basePath)) {
      const cycle = [...chain, abs, basePath].map(display).join(" → ");
      result.diagnostics.push(
        error("DF105", ["extends"], `extends cycle: ${cycle}`, "remove one of the extends"),
      );
      return result;
    }
    const base = composeSpec(basePath, options, [...chain, abs]);
    const baseFile = display(basePath);
    for (const d of base.diagnostics) {
      // A base that cannot be read is this file's error, at its `extends`.
      if (d.code === "DF101" && d.location?.file === baseFile) {
        result.diagnostics.push({ ...d, path: ["extends"], location: doc.locate(["extends"]) ?? d.location });
      } else {
        result.diagnostics.push(d);
      }
    }
    if (!base.value) return result;
    merged = deepMerge(base.value, merged);
    const ownLocate = doc.locate;
    result.locate = (path) =>
      depthIn(own, path) >= depthIn(base.value, path) ? ownLocate(path) : base.locate(path);
  }
  merged.name = result.name;
  result.value = merged;
  return result;
}

function label(key: string, pattern: readonly PatternSegment[], clash: boolean): string {
  if (clash) return key;
  const names = pattern.filter((s): s is string => typeof s === "string" && s !== "*");
  return names.at(-1) ?? key;
}

function showValue(v: JsonValue): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** Expands `variants` into named instances; a spec without variants is its own single instance. */
export function expandVariants(spec: ComposedSpec): { instances: SpecInstance[]; diagnostics: Diagnostic[] } {
  const { value } = spec;
  if (!value) return { instances: [], diagnostics: [] };
  if (spec.variants === undefined)
    return { instances: [{ name: spec.name, value, locate: spec.locate }], diagnostics: [] };
  const parsed = variantsSection.safeParse(spec.variants);
  if (!parsed.success) {
    const ds = issuesToDiagnostics(parsed.error.issues, spec.variants, variantsSection).map((d) => {
      const path = ["variants", ...d.path];
      return { ...d, path, location: spec.locate(path) };
    });
    return { instances: [], diagnostics: ds };
  }
  const diagnostics: Diagnostic[] = [];
  type Setting = { key: string; pattern: PatternSegment[]; value: JsonValue; at: SpecPath };
  const planned: { name: string; nameAt: SpecPath; settings: Setting[] }[] = [];
  // Each path is parsed once; a malformed one is reported once, not once per variant.
  const patterns = new Map<string, PatternSegment[]>();
  const parse = (key: string, at: SpecPath): PatternSegment[] | undefined => {
    const known = patterns.get(key);
    if (known) return known;
    const p = parseVariantPath(key);
    if (typeof p === "string") {
      diagnostics.push(
        error("DF403", at, p, 'write paths like "depth", "stages[0].depth" or "stages[*].depth"'),
      );
      return undefined;
    }
    patterns.set(key, p);
    return p;
  };
  const matrix = Object.entries(parsed.data.matrix ?? {}).flatMap(([key, values]) => {
    const pattern = parse(key, ["variants", "matrix", key]);
    return pattern ? [{ key, values, pattern }] : [];
  });
  if (matrix.length > 0) {
    const labels = matrix.map((m) => label(m.key, m.pattern, false));
    const clash = (l: string) => labels.filter((x) => x === l).length > 1;
    let combos: (Setting & { label: string })[][] = [[]];
    for (const [i, m] of matrix.entries()) {
      const lab = label(m.key, m.pattern, clash(labels[i] ?? ""));
      const at: SpecPath = ["variants", "matrix", m.key];
      combos = combos.flatMap((c) =>
        m.values.map((v) => [...c, { key: m.key, pattern: m.pattern, value: v, at, label: lab }]),
      );
    }
    for (const c of combos) {
      const name = `${spec.name}[${c.map((s) => `${s.label}=${showValue(s.value)}`).join(",")}]`;
      planned.push({ name, nameAt: ["variants", "matrix"], settings: c });
    }
  }
  for (const [i, inc] of (parsed.data.include ?? []).entries()) {
    const settings = Object.entries(inc.set).flatMap(([key, value]) => {
      const at: SpecPath = ["variants", "include", i, "set", key];
      const pattern = parse(key, at);
      return pattern ? [{ key, pattern, value, at }] : [];
    });
    planned.push({ name: inc.name, nameAt: ["variants", "include", i, "name"], settings });
  }
  const seen = new Set<string>();
  const instances: SpecInstance[] = [];
  for (const plan of planned) {
    if (seen.has(plan.name)) {
      diagnostics.push(
        error(
          "DF402",
          plan.nameAt,
          `two variants are named "${plan.name}"`,
          "give each variant a distinct name",
        ),
      );
      continue;
    }
    seen.add(plan.name);
    const v = structuredClone(value);
    const sources: { written: SpecPath; at: SpecPath }[] = [];
    let ok = true;
    for (const s of plan.settings) {
      const r = setAtPattern(v, s.pattern, s.value);
      if ("error" in r) {
        diagnostics.push({
          ...error("DF401", s.at, `cannot set ${s.key}: ${r.error}`, r.hint),
          variant: plan.name,
        });
        ok = false;
        continue;
      }
      for (const w of r.written) sources.push({ written: w, at: s.at });
    }
    if (!ok) continue;
    v.name = plan.name;
    const locate: Locate = (path) => {
      const src = sources.find((s) => s.written.every((seg, k) => path[k] === seg));
      return spec.locate(src ? src.at : path);
    };
    const settings = Object.fromEntries(plan.settings.map((x) => [x.key, showValue(x.value)]));
    instances.push({ name: plan.name, variant: plan.name, settings, value: v, locate });
  }
  return {
    instances,
    diagnostics: diagnostics.map((d) => ({ ...d, location: d.location ?? spec.locate(d.path) })),
  };
}
