// Composition: `extends` (deep override of another spec file) and `variants` (a matrix
// and named settings expanded into separate specs). Both work on plain JSON values, before
// validation, so a derived spec is validated exactly like a hand-written one.
import { basename, dirname, extname, relative, resolve } from "node:path";
import { LIMITS } from "../limits.ts";
import { type Diagnostic, error, type SourceLocation, type SpecPath } from "./diagnostics.ts";
import type { SpecDocument } from "./load/document.ts";
import { type ReadOptions, readSpecDocument } from "./load/read-spec.ts";
import { ReadBudget, readFailure } from "./load/source-text.ts";
import { isReservedKey, measureValue, ownValue, reservedKey } from "./reserved-keys.ts";
import { COMPOSITION_KEYS, type JsonValue, type VariantsSection, variantsSection } from "./schema/spec.ts";
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

/**
 * Objects merge key by key; arrays and scalars in `over` replace those in `base`. Recursion is
 * bounded by the readers' nesting limit; reserved keys (refused by the readers) are skipped.
 */
export function deepMerge(base: JsonObject, over: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (isReservedKey(k)) continue;
    const b = ownValue(out, k);
    out[k] = isObject(b) && isObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

/** Length of the longest prefix of `path` present in `value`. */
function depthIn(value: unknown, path: SpecPath): number {
  let d: unknown = value;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i] as string | number;
    if (typeof d !== "object" || d === null || !Object.hasOwn(d, seg)) return i;
    d = ownValue(d, seg);
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

/** `name` and `$schema`, when written, must be strings: anything else would be silently replaced. */
function fileKeyTypes(own: JsonObject): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (own.name !== undefined && typeof own.name !== "string") {
    const message = `name must be a string, got ${JSON.stringify(own.name)}`;
    out.push(
      error(
        "DF202",
        ["name"],
        message,
        'write it in quotes, e.g. "name": "my-model", or remove it to use the file name',
      ),
    );
  }
  if (own.$schema !== undefined && typeof own.$schema !== "string") {
    const message = `$schema must be a string, got ${JSON.stringify(own.$schema)}`;
    out.push(error("DF202", ["$schema"], message, "give the path or URL of the JSON Schema, or remove it"));
  }
  return out;
}

export function composeSpec(file: string, options: ReadOptions = {}, chain: string[] = []): ComposedSpec {
  const abs = resolve(file);
  // One budget for the whole extends chain and every import along it.
  const opts: ReadOptions = { ...options, budget: options.budget ?? new ReadBudget() };
  const doc: SpecDocument = readSpecDocument(display(abs), opts);
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
  const keyErrors = fileKeyTypes(own);
  if (keyErrors.length > 0) {
    result.diagnostics.push(...keyErrors);
    return result;
  }
  if (typeof own.name === "string") result.name = own.name;
  let merged = withoutCompositionKeys(own);
  const ext = own.extends;
  if (ext !== undefined && typeof ext !== "string") {
    result.diagnostics.push(error("DF202", ["extends"], "extends must be a path to another spec file"));
  } else if (typeof ext === "string") {
    const basePath = resolve(dirname(abs), ext);
    if (chain.length + 1 > LIMITS.extendsChain) {
      const message = `the extends chain is longer than ${LIMITS.extendsChain} files (${display(chain[0] ?? abs)} → … → ${display(abs)} → ${display(basePath)})`;
      result.diagnostics.push(error("DF108", ["extends"], message, "merge some of the bases into one file"));
      return result;
    }
    if ([...chain, abs].includes(basePath)) {
      const cycle = [...chain, abs, basePath].map(display).join(" → ");
      result.diagnostics.push(
        error("DF105", ["extends"], `extends cycle: ${cycle}`, "remove one of the extends"),
      );
      return result;
    }
    const base = composeSpec(basePath, opts, [...chain, abs]);
    const baseFile = display(basePath);
    for (const d of base.diagnostics) {
      // A base that cannot be read is this file's error, at its `extends`.
      if (readFailure(d, baseFile)) {
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

/** A count as people read it ("16,777,216"); past 10^15 only its order of magnitude. */
function countText(n: number): string {
  return n <= 1e15 ? n.toLocaleString("en-US") : "more than 10^15";
}

/**
 * DF404 when the variants would be too many, or copy too large a spec too many times; computed
 * from the lengths of the matrix lists before anything is expanded.
 */
function variantCount(section: VariantsSection, value: JsonObject): Diagnostic | undefined {
  const lists = Object.values(section.matrix ?? {}).map((v) => v.length);
  const matrix = lists.length === 0 ? 0 : lists.reduce((a, b) => a * b, 1);
  const count = matrix + (section.include?.length ?? 0);
  const at: SpecPath = section.matrix ? ["variants", "matrix"] : ["variants", "include"];
  const product = lists.length > 1 ? ` (${lists.join(" × ")})` : "";
  if (count > LIMITS.variants) {
    const message = `these variants would be ${countText(count)} specs${product}, more than the ${LIMITS.variants} one file may expand to`;
    return error("DF404", at, message, "split the sweep into several files or shorten the lists");
  }
  // Each variant copies the spec and what its settings write: one value of each matrix list, or
  // one include's settings.
  const size = (v: unknown) => measureValue(v, LIMITS.variantValues).values;
  const matrixSettings = Object.values(section.matrix ?? {}).reduce(
    (n, list) => n + Math.max(...list.map(size)),
    0,
  );
  const includeSettings = Math.max(0, ...(section.include ?? []).map((inc) => size(inc.set)));
  const values = size(value) + Math.max(matrixSettings, includeSettings);
  if (count * values > LIMITS.variantValues) {
    const message = `${count} variants of a spec of ${values} values would copy ${countText(count * values)} values, more than ${countText(LIMITS.variantValues)}`;
    return error("DF404", at, message, "split the sweep into several files, or make the spec smaller");
  }
  return undefined;
}

/** Expands `variants` into named instances; a spec without variants is its own single instance. */
export function expandVariants(spec: ComposedSpec): { instances: SpecInstance[]; diagnostics: Diagnostic[] } {
  const { value } = spec;
  if (!value) return { instances: [], diagnostics: [] };
  if (spec.variants === undefined)
    return { instances: [{ name: spec.name, value, locate: spec.locate }], diagnostics: [] };
  // zod's record output drops a "__proto__" key silently; values from the readers cannot hold
  // one, values built in code are checked here.
  const reserved = measureValue(spec.variants).reserved;
  if (reserved) {
    const path = ["variants", ...reserved];
    const d = reservedKey(path, String(reserved.at(-1)));
    return { instances: [], diagnostics: [{ ...d, location: spec.locate(path) }] };
  }
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
    if (p.length > LIMITS.specNesting) {
      const message = `the path has ${p.length} segments, more than the ${LIMITS.specNesting} a spec can nest`;
      diagnostics.push(error("DF403", at, message, "variant paths name a field of the spec"));
      return undefined;
    }
    const reserved = p.find(isReservedKey);
    if (reserved !== undefined) {
      diagnostics.push(reservedKey(at, String(reserved)));
      return undefined;
    }
    patterns.set(key, p);
    return p;
  };
  const tooMany = variantCount(parsed.data, value);
  if (tooMany) return { instances: [], diagnostics: [{ ...tooMany, location: spec.locate(tooMany.path) }] };
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
