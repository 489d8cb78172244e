// The TypeScript checker for .ts specs: one ts-morph Project shared by the whole process, so the
// program (and the schema types behind defineSpec) is built once and reused while no file
// changes. The program holds only the spec being checked, what it imports and this package:
// other specs read earlier are removed before each check, and nothing else of the spec's folder
// is added. Every file the checker reads goes through a guarded file system: a user file must
// be a regular file within the spec size limit, so an import cannot block on a FIFO or read a
// device until memory runs out.
import { type Dirent, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type FileSystemHost, Project, type RuntimeDirEntry, type SourceFile, ts } from "ts-morph";
import { InputError } from "../../errors.ts";
import { readRegularFile } from "../../files.ts";
import { LIMITS } from "../../limits.ts";
import { type Diagnostic, error, type SpecPath } from "../diagnostics.ts";
import type { LocationTable } from "./document.ts";

/** `import { defineSpec } from "diffit"` resolves to this package wherever the spec lives. */
const DIFFIT_ENTRY = fileURLToPath(new URL("../../index.ts", import.meta.url));
const PACKAGE_SOURCES = `${dirname(DIFFIT_ENTRY)}/`;

/** This package's sources and installed packages are read as they are; anything else is the user's. */
const trusted = (path: string): boolean =>
  path.startsWith(PACKAGE_SOURCES) || path.includes("/node_modules/");

/** User files read through the project for the current spec, bounded like the spec's own reads. */
let userReads = 0;

/** Starts the count of user files read for one spec (ts-morph reads some before the check). */
export function beginSpec(): void {
  userReads = 0;
}

function isFileOfAtMost(path: string, maxBytes: number): boolean {
  try {
    const s = statSync(path);
    return s.isFile() && s.size <= maxBytes;
  } catch {
    return false;
  }
}

const readOnly = (): never => {
  throw new Error("the spec checker's file system is read-only");
};

/** The real file system, read-only, with user files guarded (see the top of this file). */
class GuardedFileSystem implements FileSystemHost {
  isCaseSensitive(): boolean {
    return process.platform !== "win32" && process.platform !== "darwin";
  }
  readFileSync(path: string, encoding: BufferEncoding = "utf8"): string {
    if (trusted(path)) return readFileSync(path, encoding);
    if (++userReads > LIMITS.specFiles) {
      throw new InputError(`the checker would read more than ${LIMITS.specFiles} files for this spec`);
    }
    return readRegularFile(path, { what: "spec", maxBytes: LIMITS.specBytes }).toString(encoding);
  }
  readFile(path: string, encoding?: BufferEncoding): Promise<string> {
    return Promise.resolve().then(() => this.readFileSync(path, encoding));
  }
  fileExistsSync(path: string): boolean {
    return isFileOfAtMost(path, trusted(path) ? LIMITS.fileBytes : LIMITS.specBytes);
  }
  fileExists(path: string): Promise<boolean> {
    return Promise.resolve(this.fileExistsSync(path));
  }
  directoryExistsSync(path: string): boolean {
    try {
      return statSync(path).isDirectory();
    } catch {
      return false;
    }
  }
  directoryExists(path: string): Promise<boolean> {
    return Promise.resolve(this.directoryExistsSync(path));
  }
  readDirSync(path: string): RuntimeDirEntry[] {
    return readdirSync(path, { withFileTypes: true }).map((e: Dirent) => ({
      name: join(path, e.name),
      isFile: e.isFile(),
      isDirectory: e.isDirectory(),
      isSymlink: e.isSymbolicLink(),
    }));
  }
  realpathSync(path: string): string {
    return realpathSync(path);
  }
  getCurrentDirectory(): string {
    return process.cwd();
  }
  // Specs are added one by one; the checker never globs.
  glob(): Promise<string[]> {
    return Promise.resolve([]);
  }
  globSync(): string[] {
    return [];
  }
  delete = readOnly;
  deleteSync = readOnly;
  writeFile = readOnly;
  writeFileSync = readOnly;
  mkdir = readOnly;
  mkdirSync = readOnly;
  move = readOnly;
  moveSync = readOnly;
  copy = readOnly;
  copySync = readOnly;
}

let project: Project | undefined;

function sharedProject(): Project {
  project ??= new Project({
    skipAddingFilesFromTsConfig: true,
    fileSystem: new GuardedFileSystem(),
    compilerOptions: {
      strict: true,
      target: ts.ScriptTarget.ES2022,
      lib: ["lib.es2022.d.ts"],
      types: [],
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      allowImportingTsExtensions: true,
      resolveJsonModule: true,
      noEmit: true,
      skipLibCheck: true,
      paths: { diffit: [DIFFIT_ENTRY] },
    },
  });
  return project;
}

/** Forgets the shared program, after a check that failed part way (its state is not trusted). */
function resetProject(): void {
  project = undefined;
}

/** The project's copy of a spec, replaced only when its text changed (keeping the program). */
export function sourceFile(abs: string, text: string): SourceFile {
  const existing = sharedProject().getSourceFile(abs);
  if (existing?.getFullText() === text) return existing;
  return sharedProject().createSourceFile(abs, text, { overwrite: true });
}

/**
 * Leaves in the project only `keep` (the spec and the modules it imports, as just read) and
 * this package: user files of earlier checks are removed (the checker re-reads, guarded, any
 * it still needs), and this package's files are re-read when they changed on disk.
 */
function prepareCheck(keep: ReadonlySet<string>): void {
  const p = sharedProject();
  for (const sf of p.getSourceFiles()) {
    const path = sf.getFilePath();
    if (!trusted(path) && !keep.has(path)) p.removeSourceFile(sf);
  }
  for (const file of p.getProgram().compilerObject.getSourceFiles()) {
    if (!file.fileName.startsWith(PACKAGE_SOURCES)) continue;
    p.getSourceFile(file.fileName)?.refreshFromFileSystemSync();
  }
}

/** Longest type error message kept: a type printed whole can run to thousands of characters. */
const MESSAGE_CHARS = 600;

function typeErrors(file: string, sf: SourceFile): Diagnostic[] {
  return sf
    .getPreEmitDiagnostics()
    .map((d) => d.compilerObject)
    .filter((d) => d.file !== undefined && d.file.fileName === sf.getFilePath())
    .map((d) => {
      const { line, character } = ts.getLineAndCharacterOfPosition(sf.compilerNode, d.start ?? 0);
      let text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
      if (text.length > MESSAGE_CHARS) text = `${text.slice(0, MESSAGE_CHARS - 1)}…`;
      const message = `${text} (TS${d.code})`;
      return { ...error("DF104", [], message), location: { file, line: line + 1, column: character + 1 } };
    });
}

/** Gives a checker error the spec path written at its position, and the value found there. */
function placeTypeError(d: Diagnostic, table: LocationTable, value: unknown): Diagnostic {
  const path: SpecPath | undefined = d.location ? table.pathAt(d.location) : undefined;
  if (!path || path.length === 0) return d;
  let v: unknown = value;
  for (const seg of path) {
    v =
      typeof v === "object" && v !== null && Object.hasOwn(v, seg)
        ? (v as Record<string | number, unknown>)[seg]
        : undefined;
  }
  const got = v !== undefined && (typeof v !== "object" || v === null) ? ` (got ${JSON.stringify(v)})` : "";
  return { ...d, path, message: `${d.message}${got}` };
}

/** What the check of one .ts module needs: its source file, and where its values were written. */
export interface ModuleCheck {
  file: string;
  sf: SourceFile;
  table: LocationTable;
  value: unknown;
}

/**
 * Type errors of every module of a spec, placed at spec paths. A checker that fails part way
 * (out of stack on a file imported for its types, or refused a read) is an error of the spec,
 * and the shared program is dropped.
 */
export function checkTypes(file: string, checks: readonly ModuleCheck[]): Diagnostic[] {
  try {
    prepareCheck(new Set(checks.map((c) => c.sf.getFilePath())));
    return checks.flatMap((c) => typeErrors(c.file, c.sf).map((d) => placeTypeError(d, c.table, c.value)));
  } catch (e) {
    resetProject();
    const location = { file, line: 1, column: 1 };
    if (e instanceof RangeError) {
      const message = "the TypeScript checker ran out of stack on this spec or a file it imports";
      const hint = "a file it imports (perhaps only for types) nests too deeply; flatten it";
      return [{ ...error("DF108", [], message, hint), location }];
    }
    if (e instanceof InputError) return [{ ...error("DF101", [], e.message), location }];
    throw e;
  }
}
