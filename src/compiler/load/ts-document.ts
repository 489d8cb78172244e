// TypeScript specs are read statically with ts-morph and never executed: the evaluator accepts
// only the literal subset of TypeScript (objects, arrays, spreads, consts, imports of other
// specs), so compiling a spec cannot run code, and every rejected construct is reported at its
// line and column. Every bound a JSON spec has holds here too: file size and count (through the
// shared ReadBudget), syntax depth (ts-syntax.ts), value depth and size (ts-tree.ts), reserved
// keys. Type errors come from one ts-morph Project shared by the whole process (ts-project.ts),
// checked once the spec and its imports have been read.
import { dirname, join, resolve } from "node:path";
import type { ImportDeclaration, SourceFile } from "ts-morph";
import { Node, VariableDeclarationKind } from "ts-morph";
import { LIMITS } from "../../limits.ts";
import { type Diagnostic, error, type SourceLocation, type SpecPath } from "../diagnostics.ts";
import { isReservedKey, reservedKey } from "../reserved-keys.ts";
import { LocationTable, type SpecDocument } from "./document.ts";
import { failed, readJsonSpec } from "./json-document.ts";
import { ReadBudget, readFailure, readSpecText } from "./source-text.ts";
import { beginSpec, checkTypes, sourceFile } from "./ts-project.ts";
import { isTypeOnly, literalValue, syntaxTooDeep } from "./ts-syntax.ts";
import { arrayTree, depthOf, leaf, objectTree, settle, type Tree, treeOf, valuesOf } from "./ts-tree.ts";

const HINT =
  "specs are read statically: use literals, arrays, objects, spreads, as const and imports of other specs";

/** What a spec module offers its importers: its document (the default export) and exported consts. */
interface Module {
  doc: SpecDocument;
  exports: Map<string, Tree | undefined>;
  /** What the type check of a .ts module needs, once every module is read. */
  check?: { sf: SourceFile; table: LocationTable; value: unknown };
}

/** A name bound by an import: "default" or the name of an exported const of `specifier`. */
type Imported = { decl: ImportDeclaration; specifier: string; name: string };

/** State shared by the modules read for one `readTsSpec` call. */
interface Session {
  /** Files being read, outermost first, to detect import cycles. */
  stack: readonly string[];
  modules: Map<string, Module>;
  budget: ReadBudget;
  /**
   * evaluate() calls in progress in every module (what bounds the evaluator's recursion), and
   * whether a limit was hit: after one, evaluation stops instead of reporting its consequences.
   */
  nesting: { depth: number; exceeded: boolean };
}

export interface TsReadOptions {
  typecheck?: boolean;
  budget?: ReadBudget;
}

/** Codes after which a type check would only meet the same problem (a missing import it reports itself). */
const NOT_CHECKABLE = new Set(["DF108", "DF109"]);

export function readTsSpec(file: string, options: TsReadOptions = {}): SpecDocument {
  const session: Session = {
    stack: [],
    modules: new Map(),
    budget: options.budget ?? new ReadBudget(),
    nesting: { depth: 0, exceeded: false },
  };
  beginSpec();
  const root = readModule(file, session);
  let diagnostics = root.doc.diagnostics;
  if ((options.typecheck ?? true) && !diagnostics.some((d) => NOT_CHECKABLE.has(d.code))) {
    const modules = [root, ...session.modules.values()];
    const checks = modules.flatMap((m) => (m.check ? [{ file: m.doc.file, ...m.check }] : []));
    diagnostics = [...diagnostics, ...checkTypes(file, checks)];
  }
  // A module imported along several paths (or names) reports its diagnostics once.
  return { ...root.doc, diagnostics: [...new Map(diagnostics.map((d) => [JSON.stringify(d), d])).values()] };
}

function readModule(file: string, session: Session): Module {
  const source = readSpecText(file, session.budget);
  if ("diagnostics" in source) return { doc: failed(file, source.diagnostics), exports: new Map() };
  const deep = syntaxTooDeep(file, source.text, source.lines);
  if (deep) return { doc: failed(file, [deep]), exports: new Map() };
  const stack = [...session.stack, file];
  return new ModuleReader(file, sourceFile(resolve(file), source.text), { ...session, stack }).read();
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
    // A spec with an unsupported construct has no value: a partial one would only add noise.
    if (this.failed) tree = undefined;
    const table = new LocationTable();
    const value = tree && settle(tree, [], table);
    const doc = { file: this.file, value, locate: table.locate, diagnostics: this.diagnostics };
    const exports = new Map(exported.map((name) => [name, this.bound.get(name)]));
    return { doc, exports, check: { sf: this.sf, table, value } };
  }

  /** Evaluates `node`, counting the nesting of evaluations across consts and imported modules. */
  private evaluate(node: Node, path: SpecPath): Tree | undefined {
    const nesting = this.session.nesting;
    if (nesting.exceeded) {
      this.failed = true;
      return undefined;
    }
    if (nesting.depth >= LIMITS.tsSyntaxDepth) {
      const message = `expressions, consts and imports nest more than ${LIMITS.tsSyntaxDepth} levels deep here`;
      this.refuse(error("DF108", path, message, "refer to fewer consts in a chain"), node);
      return undefined;
    }
    nesting.depth++;
    try {
      return this.evaluateNode(node, path);
    } finally {
      nesting.depth--;
    }
  }

  private evaluateNode(node: Node, path: SpecPath): Tree | undefined {
    const at = this.at(node);
    // Parentheses and type assertions (`as const`, `satisfies T`, `<T>x`) do not change the value.
    if (Node.isAsExpression(node) || Node.isSatisfiesExpression(node) || Node.isTypeAssertion(node)) {
      return this.evaluate(node.getExpression(), path);
    }
    if (Node.isParenthesizedExpression(node)) return this.evaluate(node.getExpression(), path);
    const literal = literalValue(node);
    if (typeof literal === "number" && !Number.isFinite(literal)) {
      const message = `the number ${snippet(node)} is too large for a 64-bit float`;
      this.failed = true;
      this.diagnostics.push({
        ...error("DF203", path, message, "write a number within ±1.7e308"),
        location: at,
      });
      return undefined;
    }
    if (literal !== undefined) return leaf(at, literal);
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

  private object(props: Node[], at: SourceLocation, path: SpecPath): Tree | undefined {
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
        if (key !== undefined && isReservedKey(key)) {
          this.refuse(reservedKey([...path, key], key), prop);
          continue;
        }
        const init = prop.getInitializer();
        if (key !== undefined && init) value = this.evaluate(init, [...path, key]);
      } else if (Node.isShorthandPropertyAssignment(prop) && !prop.hasObjectAssignmentInitializer()) {
        key = prop.getName();
        if (isReservedKey(key)) {
          this.refuse(reservedKey([...path, key], key), prop);
          continue;
        }
        value = this.identifier(prop.getNameNode(), [...path, key]);
      } else this.unsupported(prop, path);
      // Re-setting a key keeps its first position, as in JavaScript.
      if (key !== undefined && value) entries.set(key, { ...value, at: this.at(prop) });
    }
    return this.bounded(objectTree(at, entries), path);
  }

  private array(elements: Node[], at: SourceLocation, path: SpecPath): Tree | undefined {
    const items: Tree[] = [];
    // Spreads copy items, so the count is checked as they come, not only at the end.
    let values = 1;
    const add = (t: Tree, node: Node): boolean => {
      values += valuesOf(t);
      if (values > LIMITS.specValues) return this.refuseTooMany(node, path);
      items.push(t);
      return true;
    };
    for (const el of elements) {
      if (Node.isSpreadElement(el)) {
        const spread = this.evaluate(el.getExpression(), path);
        if (spread?.kind === "array") {
          for (const item of spread.items) if (!add(item, el)) return undefined;
        } else if (spread) this.unsupported(el, path, "spread of a non-array");
      } else {
        const value = this.evaluate(el, [...path, items.length]);
        if (value && !add({ ...value, at: this.at(el) }, el)) return undefined;
      }
    }
    return this.bounded(arrayTree(at, items), path);
  }

  /** `tree`, or undefined (reported) when it nests too deeply or holds too many values. */
  private bounded(tree: Tree, path: SpecPath): Tree | undefined {
    let d: Diagnostic | undefined;
    if (depthOf(tree) > LIMITS.specNesting) {
      const message = `objects and arrays nest more than ${LIMITS.specNesting} levels deep here`;
      d = error("DF108", path, message, "flatten the value");
    } else if (valuesOf(tree) > LIMITS.specValues) d = tooManyValues(path);
    if (!d) return tree;
    this.failed = true;
    this.session.nesting.exceeded = true;
    this.diagnostics.push({ ...d, location: tree.at });
    return undefined;
  }

  private refuseTooMany(node: Node, path: SpecPath): false {
    this.refuse(tooManyValues(path), node);
    return false;
  }

  /** Reports `d` at `node`; a DF108 (a limit) stops the evaluation of the whole spec. */
  private refuse(d: Diagnostic, node: Node): void {
    this.failed = true;
    if (d.code === "DF108") this.session.nesting.exceeded = true;
    this.diagnostics.push({ ...d, location: this.at(node) });
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
    if (isReservedKey(key)) {
      this.refuse(reservedKey(path, String(key)), node);
      return undefined;
    }
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
      mod = json
        ? { doc: readJsonSpec(file, this.session.budget), exports: new Map() }
        : readModule(file, this.session);
      modules.set(abs, mod);
    }
    if (mod.doc.value === undefined) this.failed = true;
    for (const d of mod.doc.diagnostics) {
      // A missing import is reported where it is imported, not in a file that does not exist.
      this.diagnostics.push(readFailure(d, file) ? { ...d, location: this.at(decl) } : d);
    }
    return mod;
  }

  private unsupported(node: Node, path: SpecPath, reason?: string): undefined {
    const why = reason ? ` (${reason})` : "";
    const message = `unsupported construct in a TypeScript spec: ${node.getKindName()} \`${snippet(node)}\`${why}`;
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

/** The node's text on one line, shortened for a message. */
function snippet(node: Node): string {
  const text = node.getText().slice(0, 200).replace(/\s+/g, " ");
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

function tooManyValues(path: SpecPath): Diagnostic {
  const message = `more than ${LIMITS.specValues} values here once consts and spreads are written out`;
  return error("DF108", path, message, "a spec needs a few hundred; reference large consts fewer times");
}
