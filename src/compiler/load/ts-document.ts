// TypeScript specs are read statically with ts-morph and never executed: the evaluator accepts
// only the literal subset of TypeScript (objects, arrays, spreads, consts, imports of other
// specs), so compiling a spec cannot run code, and every rejected construct is reported at its
// line and column. Type errors come from one ts-morph Project shared by the whole process.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ImportDeclaration, SourceFile } from "ts-morph";
import { Node, Project, ts, VariableDeclarationKind } from "ts-morph";
import { type Diagnostic, error, type SourceLocation, type SpecPath } from "../diagnostics.ts";
import { LocationTable, type SpecDocument } from "./document.ts";
import { readJsonSpec, unreadable } from "./json-document.ts";

const HINT =
  "specs are read statically: use literals, arrays, objects, spreads, as const and imports of other specs";

/** An evaluated value that remembers where each of its parts was written. */
type Tree =
  | { at: SourceLocation; kind: "leaf"; value: string | number | boolean | null }
  | { at: SourceLocation; kind: "object"; entries: Map<string, Tree> }
  | { at: SourceLocation; kind: "array"; items: Tree[] };

/** What a spec module offers its importers: its document (the default export) and exported consts. */
interface Module {
  doc: SpecDocument;
  exports: Map<string, Tree | undefined>;
}

/** A name bound by an import: "default" or the name of an exported const of `specifier`. */
type Imported = { decl: ImportDeclaration; specifier: string; name: string };

/** State shared by the modules read for one `readTsSpec` call. */
interface Session {
  typecheck: boolean;
  /** Files being read, outermost first, to detect import cycles. */
  stack: readonly string[];
  modules: Map<string, Module>;
}

export function readTsSpec(file: string, options: { typecheck?: boolean } = {}): SpecDocument {
  const typecheck = options.typecheck ?? true;
  if (typecheck) {
    refreshFromDisk();
    addSiblings(dirname(resolve(file)));
  }
  const doc = readModule(file, { typecheck, stack: [], modules: new Map() }).doc;
  // A module imported along several paths (or names) reports its diagnostics once.
  return { ...doc, diagnostics: [...new Map(doc.diagnostics.map((d) => [JSON.stringify(d), d])).values()] };
}

function readModule(file: string, session: Session): Module {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return { doc: unreadable(file, e), exports: new Map() };
  }
  const stack = [...session.stack, file];
  return new ModuleReader(file, sourceFile(resolve(file), text), { ...session, stack }).read();
}

class ModuleReader {
  private readonly diagnostics: Diagnostic[] = [];
  private failed = false;
  private readonly consts = new Map<string, Node>();
  private readonly imports = new Map<string, Imported>();
  /** Evaluated consts and imports; undefined when evaluation failed (already reported). */
  private readonly bound = new Map<string, Tree | undefined>();
  private readonly busy = new Set<string>();

  constructor(
    private readonly file: string,
    private readonly sf: SourceFile,
    private readonly session: Session,
  ) {}

  read(): Module {
    let root: Node | undefined;
    const exported: string[] = [];
    for (const st of this.sf.getStatements()) {
      if (Node.isImportDeclaration(st)) this.bindImports(st);
      else if (Node.isExportAssignment(st) && !st.isExportEquals()) root = st.getExpression();
      else if (Node.isVariableStatement(st) && st.getDeclarationKind() === VariableDeclarationKind.Const) {
        for (const decl of st.getDeclarations()) {
          const init = decl.getInitializer();
          const name = decl.getNameNode();
          if (!init || !Node.isIdentifier(name)) this.unsupported(decl, []);
          else this.consts.set(name.getText(), init);
          if (st.isExported()) exported.push(decl.getName());
        }
      } else if (!isTypeOnly(st)) this.unsupported(st, []);
    }
    // Evaluate every const, used or not, so that all unsupported constructs are reported.
    for (const name of this.consts.keys()) this.binding(name);
    let tree = root && this.evaluate(root, []);
    if (!root) {
      const message = "a TypeScript spec needs `export default defineSpec({ ... })`";
      this.report({ file: this.file, line: 1, column: 1 }, [], message, HINT);
    }
    if (this.session.typecheck) this.diagnostics.push(...typeErrors(this.file, this.sf));
    // A spec with an unsupported construct has no value: a partial one would only add noise.
    if (this.failed) tree = undefined;
    const table = new LocationTable();
    const value = tree && settle(tree, [], table);
    const diagnostics = this.diagnostics.map((d) =>
      d.code === "DF104" ? placeTypeError(d, table, value) : d,
    );
    const doc = { file: this.file, value, locate: table.locate, diagnostics };
    return { doc, exports: new Map(exported.map((name) => [name, this.bound.get(name)])) };
  }

  private evaluate(node: Node, path: SpecPath): Tree | undefined {
    const at = this.at(node);
    // Parentheses and type assertions (`as const`, `satisfies T`, `<T>x`) do not change the value.
    if (Node.isAsExpression(node) || Node.isSatisfiesExpression(node) || Node.isTypeAssertion(node)) {
      return this.evaluate(node.getExpression(), path);
    }
    if (Node.isParenthesizedExpression(node)) return this.evaluate(node.getExpression(), path);
    const literal = literalValue(node);
    if (literal !== undefined) return { at, kind: "leaf", value: literal };
    if (Node.isObjectLiteralExpression(node)) return this.object(node.getProperties(), at, path);
    if (Node.isArrayLiteralExpression(node)) return this.array(node.getElements(), at, path);
    if (Node.isIdentifier(node)) return this.identifier(node, path);
    if (Node.isPropertyAccessExpression(node) && !node.hasQuestionDotToken()) {
      return this.member(node, node.getExpression(), node.getName(), path);
    }
    if (Node.isElementAccessExpression(node) && !node.hasQuestionDotToken()) {
      const arg = node.getArgumentExpression();
      if (Node.isStringLiteral(arg) || Node.isNumericLiteral(arg)) {
        return this.member(node, node.getExpression(), arg.getLiteralValue(), path);
      }
    }
    if (Node.isCallExpression(node)) {
      // defineSpec is recognised by its name; it only exists for its type.
      const [arg, ...rest] = node.getArguments();
      const callee = node.getExpression();
      if (callee.getText() === "defineSpec" && arg && !Node.isSpreadElement(arg) && rest.length === 0) {
        return this.evaluate(arg, path);
      }
    }
    return this.unsupported(node, path);
  }

  private object(props: Node[], at: SourceLocation, path: SpecPath): Tree {
    const entries = new Map<string, Tree>();
    for (const prop of props) {
      if (Node.isSpreadAssignment(prop)) {
        const spread = this.evaluate(prop.getExpression(), path);
        if (spread?.kind === "object") for (const [k, v] of spread.entries) entries.set(k, v);
        else if (spread) this.unsupported(prop, path, "spread of a non-object");
        continue;
      }
      let key: string | undefined;
      let value: Tree | undefined;
      if (Node.isPropertyAssignment(prop)) {
        const name = prop.getNameNode();
        if (Node.isIdentifier(name)) key = name.getText();
        else if (Node.isStringLiteral(name) || Node.isNumericLiteral(name)) {
          key = String(name.getLiteralValue());
        } else this.unsupported(name, path);
        const init = prop.getInitializer();
        if (key !== undefined && init) value = this.evaluate(init, [...path, key]);
      } else if (Node.isShorthandPropertyAssignment(prop) && !prop.hasObjectAssignmentInitializer()) {
        key = prop.getName();
        value = this.identifier(prop.getNameNode(), [...path, key]);
      } else this.unsupported(prop, path);
      // Re-setting a key keeps its first position, as in JavaScript.
      if (key !== undefined && value) entries.set(key, { ...value, at: this.at(prop) });
    }
    return { at, kind: "object", entries };
  }

  private array(elements: Node[], at: SourceLocation, path: SpecPath): Tree {
    const items: Tree[] = [];
    for (const el of elements) {
      if (Node.isSpreadElement(el)) {
        const spread = this.evaluate(el.getExpression(), path);
        if (spread?.kind === "array") items.push(...spread.items);
        else if (spread) this.unsupported(el, path, "spread of a non-array");
      } else {
        const value = this.evaluate(el, [...path, items.length]);
        if (value) items.push({ ...value, at: this.at(el) });
      }
    }
    return { at, kind: "array", items };
  }

  private identifier(node: Node, path: SpecPath): Tree | undefined {
    const name = node.getText();
    if (this.busy.has(name)) return this.unsupported(node, path, "refers to itself");
    const imported = this.imports.get(name);
    if (imported && !this.bound.has(name)) this.bound.set(name, this.importValue(node, path, imported));
    if (this.consts.has(name) || this.bound.has(name)) return this.binding(name);
    return this.unsupported(node, path, "not a const of this file or an imported spec");
  }

  /** The value of a const (evaluated once, on first use) or of an import. */
  private binding(name: string): Tree | undefined {
    const init = this.consts.get(name);
    if (!this.bound.has(name) && init) {
      this.busy.add(name);
      this.bound.set(name, this.evaluate(init, []));
      this.busy.delete(name);
    }
    return this.bound.get(name);
  }

  private member(node: Node, objectNode: Node, key: string | number, path: SpecPath): Tree | undefined {
    const obj = this.evaluate(objectNode, path);
    if (!obj) return undefined;
    let found: Tree | undefined;
    if (obj.kind === "object") found = obj.entries.get(String(key));
    else if (obj.kind === "array") found = obj.items[Number(key)];
    return found ?? this.unsupported(node, path, "no such property");
  }

  private bindImports(decl: ImportDeclaration): void {
    if (decl.isTypeOnly()) return;
    if (!decl.getImportClause()) this.unsupported(decl, [], "side-effect import");
    const specifier = decl.getModuleSpecifierValue();
    const defaultImport = decl.getDefaultImport();
    if (defaultImport) this.imports.set(defaultImport.getText(), { decl, specifier, name: "default" });
    for (const n of decl.getNamedImports()) {
      const local = n.getAliasNode()?.getText() ?? n.getName();
      if (!n.isTypeOnly()) this.imports.set(local, { decl, specifier, name: n.getName() });
    }
  }

  /**
   * Imports are read lazily, when a name is used as a value: an import that is only used as
   * a type (defineSpec, SpecFileInput, from "diffit" or anywhere) never needs to be a spec.
   */
  private importValue(node: Node, path: SpecPath, { decl, specifier, name }: Imported): Tree | undefined {
    const relative = specifier.startsWith("./") || specifier.startsWith("../");
    const json = relative && specifier.endsWith(".json");
    if (!relative || !(json || specifier.endsWith(".ts"))) {
      return this.unsupported(node, path, `imported from "${specifier}", which is not a .ts or .json spec`);
    }
    if (json && name !== "default") {
      return this.unsupported(node, path, "JSON specs have only a default export");
    }
    const mod = this.load(decl, join(dirname(this.file), specifier), json);
    if (!mod || name === "default") return mod && treeOf(mod.doc, mod.doc.value, []);
    if (!mod.exports.has(name)) return this.unsupported(node, path, `not an exported const of ${specifier}`);
    return mod.exports.get(name);
  }

  private load(decl: ImportDeclaration, file: string, json: boolean): Module | undefined {
    const abs = resolve(file);
    const { stack, modules } = this.session;
    const cycleStart = stack.findIndex((f) => resolve(f) === abs);
    if (cycleStart >= 0) {
      const cycle = [...stack.slice(cycleStart), file].join(" → ");
      this.report(this.at(decl), [], `import cycle: ${cycle}`, "specs cannot import each other in a cycle");
      return undefined;
    }
    let mod = modules.get(abs);
    if (!mod) {
      mod = json ? { doc: readJsonSpec(file), exports: new Map() } : readModule(file, this.session);
      modules.set(abs, mod);
    }
    if (mod.doc.value === undefined) this.failed = true;
    for (const d of mod.doc.diagnostics) {
      // A missing import is reported where it is imported, not in a file that does not exist.
      const missing = d.code === "DF101" && d.location?.file === file;
      this.diagnostics.push(missing ? { ...d, location: this.at(decl) } : d);
    }
    return mod;
  }

  private unsupported(node: Node, path: SpecPath, reason?: string): undefined {
    const text = node.getText().replace(/\s+/g, " ");
    const snippet = text.length > 60 ? `${text.slice(0, 59)}…` : text;
    const why = reason ? ` (${reason})` : "";
    const message = `unsupported construct in a TypeScript spec: ${node.getKindName()} \`${snippet}\`${why}`;
    this.report(this.at(node), path, message, HINT);
    return undefined;
  }

  private report(location: SourceLocation, path: SpecPath, message: string, hint: string): void {
    this.failed = true;
    this.diagnostics.push({ ...error("DF103", path, message, hint), location });
  }

  private at(node: Node): SourceLocation {
    return { file: this.file, ...this.sf.getLineAndColumnAtPos(node.getStart()) };
  }
}

/** The value of a literal (`-` on a number included), or undefined when the node is not one. */
function literalValue(node: Node): string | number | boolean | null | undefined {
  if (Node.isStringLiteral(node) || Node.isNoSubstitutionTemplateLiteral(node)) return node.getLiteralValue();
  if (Node.isNumericLiteral(node) || Node.isTrueLiteral(node) || Node.isFalseLiteral(node)) {
    return node.getLiteralValue();
  }
  if (Node.isNullLiteral(node)) return null;
  if (Node.isPrefixUnaryExpression(node) && node.getOperatorToken() === ts.SyntaxKind.MinusToken) {
    const operand = node.getOperand();
    if (Node.isNumericLiteral(operand)) return -operand.getLiteralValue();
  }
  return undefined;
}

const isTypeOnly = (st: Node): boolean =>
  Node.isTypeAliasDeclaration(st) ||
  Node.isInterfaceDeclaration(st) ||
  (Node.isExportDeclaration(st) && st.isTypeOnly());

/** Writes every location of `tree` into `table` and returns its plain value. */
function settle(tree: Tree, path: SpecPath, table: LocationTable): unknown {
  table.set(path, tree.at);
  if (tree.kind === "leaf") return tree.value;
  if (tree.kind === "array") return tree.items.map((item, i) => settle(item, [...path, i], table));
  // fromEntries defines own properties, so a "__proto__" key stays data.
  return Object.fromEntries([...tree.entries].map(([k, v]) => [k, settle(v, [...path, k], table)]));
}

/** The tree of an imported document's value, keeping the locations its reader recorded. */
function treeOf(doc: SpecDocument, value: unknown, path: SpecPath): Tree | undefined {
  const at = doc.locate(path) ?? { file: doc.file, line: 1, column: 1 };
  if (value === undefined) return undefined; // the document failed and reported why
  if (Array.isArray(value)) {
    return { at, kind: "array", items: value.flatMap((v, i) => treeOf(doc, v, [...path, i]) ?? []) };
  }
  // Documents hold JSON values: anything but an array or object is a string, number, boolean or null.
  if (typeof value !== "object" || value === null) {
    return { at, kind: "leaf", value: value as string | number | boolean | null };
  }
  const entries = Object.entries(value).flatMap(([k, v]) => {
    const child = treeOf(doc, v, [...path, k]);
    return child ? [[k, child] as const] : [];
  });
  return { at, kind: "object", entries: new Map(entries) };
}

// --- Type checking ---------------------------------------------------------------------------

/** `import { defineSpec } from "diffit"` resolves to this package wherever the spec lives. */
const DIFFIT_ENTRY = fileURLToPath(new URL("../../index.ts", import.meta.url));

// One Project per process: the program (and the schema types behind defineSpec) is built once
// and reused while no file changes, which is what makes checking many specs fast.
let project: Project | undefined;

function sharedProject(): Project {
  project ??= new Project({
    skipAddingFilesFromTsConfig: true,
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

/** The project's copy of a spec, replaced only when its text changed (keeping the program). */
function sourceFile(abs: string, text: string): SourceFile {
  const existing = sharedProject().getSourceFile(abs);
  if (existing?.getFullText() === text) return existing;
  return sharedProject().createSourceFile(abs, text, { overwrite: true });
}

/**
 * Files the program read from disk (specs, this package's sources) are re-read when they
 * changed since the last check; an unchanged file keeps the program (~10 ms for the check).
 */
function refreshFromDisk(): void {
  const p = sharedProject();
  for (const file of p.getProgram().compilerObject.getSourceFiles()) {
    if (file.fileName.includes("/node_modules/")) continue;
    p.getSourceFile(file.fileName)?.refreshFromFileSystemSync();
  }
}

const seenDirectories = new Set<string>();

/**
 * Each new program gets a new checker, which spends ~300 ms on the schema types behind
 * defineSpec. Adding a directory's .ts files with its first spec (parsed, not checked) lets one
 * program serve the whole directory, so its other specs check in a few milliseconds.
 */
function addSiblings(dir: string): void {
  if (seenDirectories.has(dir)) return;
  seenDirectories.add(dir);
  sharedProject().addSourceFilesAtPaths([join(dir, "*.ts"), `!${join(dir, "*.d.ts")}`]);
}

/** Gives a checker error the spec path written at its position, and the value found there. */
function placeTypeError(d: Diagnostic, table: LocationTable, value: unknown): Diagnostic {
  const path = d.location ? table.pathAt(d.location) : undefined;
  if (!path || path.length === 0) return d;
  let v: unknown = value;
  for (const seg of path)
    v = typeof v === "object" && v !== null ? (v as Record<string | number, unknown>)[seg] : undefined;
  const got = v !== undefined && (typeof v !== "object" || v === null) ? ` (got ${JSON.stringify(v)})` : "";
  return { ...d, path, message: `${d.message}${got}` };
}

function typeErrors(file: string, sf: SourceFile): Diagnostic[] {
  return sf
    .getPreEmitDiagnostics()
    .map((d) => d.compilerObject)
    .filter((d) => d.file !== undefined && d.file.fileName === sf.getFilePath())
    .map((d) => {
      const { line, character } = ts.getLineAndCharacterOfPosition(sf.compilerNode, d.start ?? 0);
      const message = `${ts.flattenDiagnosticMessageText(d.messageText, "\n")} (TS${d.code})`;
      return { ...error("DF104", [], message), location: { file, line: line + 1, column: character + 1 } };
    });
}
