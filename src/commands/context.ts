// What every CLI command shares: output streams, exit codes, spec loading and option parsers.
import { CommanderError } from "commander";
import { type Diagnostic, error, formatDiagnostic } from "../compiler/diagnostics.ts";
import { type FrontEndResult, type ResolvedEntry, runFrontEnd } from "../compiler/pipeline.ts";
import { InputError, UsageError } from "../errors.ts";

export const EXIT = { ok: 0, invalid: 1, usage: 2 } as const;

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

export interface CommandContext {
  io: Io;
  setExit: (code: number) => void;
}

export function printDiagnostics(io: Io, ds: readonly Diagnostic[]): void {
  for (const d of ds) io.err(formatDiagnostic(d));
}

export function summary(r: FrontEndResult): string {
  const errors = r.diagnostics.filter((d) => d.severity === "error").length;
  const warnings = r.diagnostics.length - errors;
  if (!r.ok) return `✗ ${r.file}: ${errors} error(s)${warnings ? `, ${warnings} warning(s)` : ""}`;
  const names = r.entries.map((e) => e.name);
  return `✓ ${r.file}: ${names.length} spec(s) valid${warnings ? ` (${warnings} warning(s))` : ""}: ${names.join(", ")}`;
}

/**
 * The front end's result for one file. An internal failure (a bug: the front end reports bad
 * input as diagnostics) becomes this file's DF100 error, so that the other files of a run are
 * still checked; DIFFIT_DEBUG=1 lets it through with its stack.
 */
export function checkFile(file: string, typecheck: boolean): FrontEndResult {
  try {
    return runFrontEnd(file, { typecheck });
  } catch (e) {
    if (process.env.DIFFIT_DEBUG === "1") throw e;
    const reason = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    const d = error(
      "DF100",
      [],
      `diffit failed while checking this file (${reason})`,
      "this is a bug in diffit: please report it with the file",
    );
    return { file, entries: [], diagnostics: [{ ...d, location: { file, line: 1, column: 1 } }], ok: false };
  }
}

/** Every resolved spec of a file; diagnostics are printed, and an invalid file throws (exit 1). */
export function loadAll(io: Io, file: string, typecheck: boolean): ResolvedEntry[] {
  const r = checkFile(file, typecheck);
  printDiagnostics(io, r.diagnostics);
  if (!r.ok) throw new InputError(summary(r));
  return r.entries;
}

/** One resolved spec of a file (a file with variants needs `variant`); errors are printed first. */
export function loadOne(io: Io, file: string, typecheck: boolean, variant?: string): ResolvedEntry {
  const entries = loadAll(io, file, typecheck);
  const r = { entries };
  if (variant) {
    const e = r.entries.find((x) => x.name === variant);
    if (!e)
      throw new UsageError(
        `${file} has no variant "${variant}"; it has ${r.entries.map((x) => x.name).join(", ")}`,
      );
    return e;
  }
  const [only, ...rest] = r.entries;
  if (!only || rest.length > 0) {
    throw new UsageError(
      `${file} resolves to ${r.entries.length} specs; choose one with --variant (${r.entries.map((x) => x.name).join(", ")})`,
    );
  }
  return only;
}

function numberParser(flag: string, check: (n: number) => boolean, what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === "" || !check(n))
      throw new CommanderError(EXIT.usage, "diffit.number", `${flag} must be ${what}, got ${v}`);
    return n;
  };
}

export const nonNegativeInt = (flag: string) =>
  numberParser(flag, (n) => Number.isInteger(n) && n >= 0, "a non-negative integer");
export const positiveInt = (flag: string) =>
  numberParser(flag, (n) => Number.isInteger(n) && n > 0, "a positive integer");
export const positiveNumber = (flag: string) =>
  numberParser(flag, (n) => Number.isFinite(n) && n > 0, "a positive number");
export const nonNegativeNumber = (flag: string) =>
  numberParser(flag, (n) => Number.isFinite(n) && n >= 0, "a non-negative number");
