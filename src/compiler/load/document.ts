// A spec document is the evaluated value of one file plus a way back from any path
// in that value to the source position that wrote it.
import type { Diagnostic, SourceLocation, SpecPath } from "../diagnostics.ts";

export interface SpecDocument {
  /** The file as the user named it (relative paths stay relative, for short messages). */
  file: string;
  /** The evaluated value; undefined when the file could not be read or parsed at all. */
  value: unknown;
  /** The source position of the value at `path`, or of its nearest written ancestor. */
  locate(path: SpecPath): SourceLocation | undefined;
  /** Errors found while reading the file (syntax, unsupported TypeScript constructs, type errors). */
  diagnostics: Diagnostic[];
}

/** Path → location table built by a reader; `locate` falls back to the longest written prefix. */
export class LocationTable {
  private readonly byKey = new Map<string, SourceLocation>();

  set(path: SpecPath, loc: SourceLocation): void {
    this.byKey.set(JSON.stringify(path), loc);
  }

  /** Copies every entry of `other` under `prefix` (for imported or spread documents). */
  mount(prefix: SpecPath, other: SpecDocument, otherPaths: Iterable<SpecPath>): void {
    for (const p of otherPaths) {
      const loc = other.locate(p);
      if (loc) this.set([...prefix, ...p], loc);
    }
  }

  /** The deepest written path that starts on `loc`'s line at or before its column (for checker errors). */
  pathAt(loc: SourceLocation): SpecPath | undefined {
    let best: { path: SpecPath; column: number } | undefined;
    for (const [key, at] of this.byKey) {
      if (at.file !== loc.file || at.line !== loc.line || at.column > loc.column) continue;
      const path = JSON.parse(key) as SpecPath;
      if (!best || at.column > best.column || (at.column === best.column && path.length > best.path.length)) {
        best = { path, column: at.column };
      }
    }
    return best?.path;
  }

  locate = (path: SpecPath): SourceLocation | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const loc = this.byKey.get(JSON.stringify(path.slice(0, n)));
      if (loc) return loc;
    }
    return undefined;
  };
}
