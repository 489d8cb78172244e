// Diagnostics are values: a code from one catalogue, a path into the spec, a message and a hint.
// Text is rendered only at the edge (CLI, tests), so callers can filter, count and serialise them.

export type PathSegment = string | number;
export type SpecPath = readonly PathSegment[];

export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

export const DIAGNOSTIC_CODES = {
  // Files and syntax
  DF100: "internal error",
  DF101: "file cannot be read",
  DF102: "JSON syntax error",
  DF103: "unsupported construct in a TypeScript spec",
  DF104: "TypeScript type error",
  DF105: "extends cycle",
  DF106: "unsupported file kind",
  DF107: "reserved key",
  DF108: "spec too large or too deeply nested",
  DF109: "not UTF-8 text",
  // Schema
  DF201: "unknown key",
  DF202: "wrong type",
  DF203: "value out of range",
  DF204: "value not allowed",
  DF205: "missing field",
  DF206: "invalid spec",
  // Semantics
  DF301: "heads must divide channels",
  DF302: "GroupNorm groups must divide channels",
  DF303: "window must divide the resolution",
  DF304: "resolution cannot be halved for every stage",
  DF305: "patch size must divide the latent size",
  DF306: "latent window must divide the token grid",
  DF307: "guidance needs a conditional model",
  DF308: "label dropout needs classes",
  DF309: "sampler does not fit the diffusion formulation",
  DF310: "learned variance needs learnSigma",
  DF311: "guidance channel out of range",
  DF312: "embedding width must be even",
  DF313: "MLP width is not an integer",
  DF314: "noise range is empty",
  DF315: "beta range is empty",
  DF316: "label dropout needs a null class",
  DF317: "position table width must be divisible by 4",
  DF318: "learnSigma without learned variance",
  DF319: "warm-up longer than training",
  DF320: "the network ignores time and class",
  // Composition
  DF401: "variant path does not exist",
  DF402: "duplicate variant name",
  DF403: "bad variant path",
  DF404: "too many variants",
} as const;

export type DiagnosticCode = keyof typeof DIAGNOSTIC_CODES;
export type Severity = "error" | "warning";

export interface Diagnostic {
  code: DiagnosticCode;
  severity: Severity;
  /** Path into the (merged) spec, e.g. ["stages", 2, "windowSize"]. */
  path: SpecPath;
  message: string;
  hint?: string;
  location?: SourceLocation;
  /** Name of the variant the diagnostic belongs to, when it comes from a variant. */
  variant?: string;
  /** Where to point in the source when `path` may not be written there (a defaulted field). */
  locateAt?: SpecPath;
}

export function error(code: DiagnosticCode, path: SpecPath, message: string, hint?: string): Diagnostic {
  return hint === undefined
    ? { code, severity: "error", path, message }
    : { code, severity: "error", path, message, hint };
}

export function warning(code: DiagnosticCode, path: SpecPath, message: string, hint?: string): Diagnostic {
  return { ...error(code, path, message, hint), severity: "warning" };
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** Longest key shown whole in a path: a hostile 20,000-character key would fill the terminal. */
const KEY_CHARS = 80;

/** `["stages", 2, "windowSize"]` → `stages[2].windowSize`. */
export function formatPath(path: SpecPath): string {
  if (path.length === 0) return "(root)";
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (IDENTIFIER.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg.length > KEY_CHARS ? `${seg.slice(0, KEY_CHARS - 1)}…` : seg)}]`;
  }
  return out;
}

/** `file:line:column path: message (hint) [code]`, the form editors and terminals link. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.location ? `${d.location.file}:${d.location.line}:${d.location.column} ` : "";
  const variant = d.variant ? `[${d.variant}] ` : "";
  const level = d.severity === "warning" ? "warning: " : "";
  const hint = d.hint ? ` (${d.hint})` : "";
  return `${where}${variant}${formatPath(d.path)}: ${level}${d.message}${hint} [${d.code}]`;
}

export const hasErrors = (ds: readonly Diagnostic[]): boolean => ds.some((d) => d.severity === "error");

/** Levenshtein distance, for "did you mean" on unknown keys and enum values. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      const cost = a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1;
      prev[j] = Math.min(up + 1, (prev[j - 1] ?? 0) + 1, diag + cost);
      diag = up;
    }
  }
  return prev[b.length] ?? 0;
}

/** The closest candidate within a distance that scales with the word, or undefined. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best;
}
