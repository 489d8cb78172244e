// The TypeScript back end (`diffit compile`): one readable, typed module per resolved spec, with
// the resolved config, the parameter names and shapes, input/output types and a `forward` unrolled
// node by node over the runtime primitives (src/runtime/tfjs/primitives.ts). Output is a pure
// function of the spec: no timestamps, no absolute paths, so committed files can be diffed.
import { Project, type SourceFile, VariableDeclarationKind, type WriterFunction } from "ts-morph";
import { buildGraph } from "../../ir/build.ts";
import type { Graph, Node } from "../../ir/types.ts";
import { PRIMITIVES, type PrimitiveFunction, type PrimitiveOp } from "../../ops/primitive-names.ts";
import type { ResolvedSpec } from "../../resolve-defaults.ts";
import { specSlug } from "../../spec-slug.ts";

export interface EmitEntry {
  name: string;
  /** The spec file, as shown in the header. */
  file: string;
  spec: ResolvedSpec;
  hash: string;
}

export interface EmitOptions {
  /** Module specifier of the runtime primitives, as the generated file imports it. */
  runtimeModule?: string;
  /** The IR graph of the spec, when the caller already built it. */
  graph?: Graph;
}

export interface EmittedModule {
  name: string;
  fileName: string;
  text: string;
}

/** The function of src/runtime/tfjs/primitives.ts that runs each op (generated code calls `op.<name>`). */
export const PRIMITIVE_NAMES = Object.fromEntries(
  Object.entries(PRIMITIVES).map(([op, p]) => [op, p.name]),
) as { readonly [K in PrimitiveOp]: PrimitiveFunction<K> };

export const DEFAULT_RUNTIME_MODULE = "../src/runtime/tfjs/primitives.ts";
export const INDEX_FILE = "index.ts";

/** The file name of a spec's module: `tiny-fmnist-sweep[depth=1,mode=tmsa]` → `tiny-fmnist-sweep--depth-1--mode-tmsa.ts`. */
export function moduleFileName(name: string): string {
  return `${specSlug(name)}.ts`;
}

const RESERVED = new Set(
  (
    "break case catch class const continue debugger default delete do else enum export extends false " +
    "finally for function if import in instanceof new null return super switch this throw true try " +
    "typeof var void while with yield let static implements interface package private protected public " +
    "await arguments eval undefined NaN Infinity op tf params inputs config paramShapes forward"
  ).split(" "),
);

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** A TS literal of a JSON-like value: identifier keys unquoted, short flat arrays inline. */
export function literal(v: unknown, indent = ""): string {
  if (v === null || typeof v !== "object") return v === undefined ? "undefined" : JSON.stringify(v);
  const inner = `${indent}  `;
  if (Array.isArray(v)) {
    if (v.every((x) => x === null || typeof x !== "object"))
      return `[${v.map((x) => literal(x)).join(", ")}]`;
    return `[\n${v.map((x) => `${inner}${literal(x, inner)},`).join("\n")}\n${indent}]`;
  }
  const entries = Object.entries(v).filter(([, x]) => x !== undefined);
  if (entries.length === 0) return "{}";
  const key = (k: string) => (IDENT.test(k) ? k : JSON.stringify(k));
  return `{\n${entries.map(([k, x]) => `${inner}${key(k)}: ${literal(x, inner)},`).join("\n")}\n${indent}}`;
}

/** A one-line literal (attributes, parameter records). */
function inline(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(inline).join(", ")}]`;
  const entries = Object.entries(v).filter(([, x]) => x !== undefined);
  if (entries.length === 0) return "{}";
  const key = (k: string) => (IDENT.test(k) ? k : JSON.stringify(k));
  return `{ ${entries.map(([k, x]) => `${key(k)}: ${inline(x)}`).join(", ")} }`;
}

/** A unique identifier per node, derived from its hierarchical name. */
function identifiers(g: Graph): string[] {
  const used = new Set<string>();
  return g.nodes.map((n) => {
    let id = n.name.replace(/[^A-Za-z0-9_$]/g, "_");
    if (!IDENT.test(id)) id = `_${id}`;
    if (RESERVED.has(id) && n.op !== "input") id = `${id}_`;
    if (used.has(id)) id = `${id}_${n.id}`;
    used.add(id);
    return id;
  });
}

/** The top-level module a node belongs to: `encoder.0`, `decoder.1`, `blocks.3`, `tokenizer`, … */
function groupOf(n: Node): string {
  const [a, b] = n.name.split(".");
  return b !== undefined && /^\d+$/.test(b) ? `${a}.${b}` : (a ?? n.name);
}

const shapeComment = (n: Node) => `// [${n.out.shape.join(", ")}]`;

function forwardBody(g: Graph, ids: string[]): WriterFunction {
  return (w) => {
    let group: string | undefined;
    for (const n of g.nodes) {
      const id = ids[n.id] ?? "";
      if (n.op === "input") {
        w.writeLine(`const ${id} = inputs.${n.attrs.role}; ${shapeComment(n)}`);
        continue;
      }
      const g0 = groupOf(n);
      if (g0 !== group) {
        group = g0;
        w.blankLine();
        w.writeLine(`// ${g0}`);
      }
      const ins = `[${n.inputs.map((i) => ids[i] ?? "").join(", ")}]`;
      const roles = Object.entries(n.params);
      const params =
        roles.length === 0
          ? ""
          : `, { ${roles.map(([r, p]) => `${IDENT.test(r) ? r : JSON.stringify(r)}: params(${JSON.stringify(p)})`).join(", ")} }`;
      const prim: { name: string; plain?: true } = PRIMITIVES[n.op];
      const call = prim.plain
        ? `op.${prim.name}(${ins})`
        : `op.${prim.name}(${inline(n.attrs)}, ${ins}${params})`;
      w.writeLine(`const ${id} = ${call}; ${shapeComment(n)}`);
    }
    const out = g.outputs.out;
    if (out === undefined) throw new Error(`${g.name} has no output`);
    w.blankLine();
    w.writeLine(`return ${ids[out]} as tf.Tensor4D;`);
  };
}

function inputType(g: Graph, role: "x" | "t" | "y"): string {
  const node = g.nodes[g.inputs[role] ?? -1];
  const rank = node?.out.shape.length ?? 1;
  return `tf.Tensor${rank}D`;
}

/** ParamName, paramShapes and Params: the parameters a generated forward reads. */
function declareParams(sf: SourceFile, g: Graph): void {
  const names = g.params.map((p) => p.name);
  sf.addTypeAlias({
    isExported: true,
    name: "ParamName",
    docs: [`The ${names.length} parameter tensors, by hierarchical name.`],
    type: names.length === 0 ? "never" : names.map((n) => `\n  | ${JSON.stringify(n)}`).join(""),
  });
  sf.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    docs: ["Shape of every parameter (linear [in, out], conv [kh, kw, in, out])."],
    declarations: [
      {
        name: "paramShapes",
        type: "Record<ParamName, readonly number[]>",
        initializer: literal(Object.fromEntries(g.params.map((p) => [p.name, p.shape]))),
      },
    ],
  });
  sf.addTypeAlias({
    isExported: true,
    name: "Params",
    docs: ["Looks up a parameter tensor by name (e.g. from a TfjsModel's variables or a checkpoint)."],
    type: "(name: ParamName) => tf.Tensor",
  });
}

/** Inputs and Output: the network's tensors, channels-last. */
function declareInputsAndOutput(sf: SourceFile, g: Graph): void {
  const xShape = g.nodes[g.inputs.x ?? -1]?.out.shape ?? [];
  sf.addInterface({
    isExported: true,
    name: "Inputs",
    docs: ["The network's inputs, channels-last."],
    properties: [
      { name: "x", type: inputType(g, "x"), docs: [`Data [${xShape.join(", ")}].`] },
      { name: "t", type: inputType(g, "t"), docs: ["Noise conditioning [N] (float32)."] },
      ...(g.inputs.y !== undefined
        ? [
            {
              name: "y",
              type: inputType(g, "y"),
              docs: ["Class labels [N] (int32; the null class is `classes`)."],
            },
          ]
        : []),
    ],
  });
  const outShape = g.nodes[g.outputs.out ?? -1]?.out.shape ?? [];
  sf.addTypeAlias({
    isExported: true,
    name: "Output",
    docs: [`The network output [${outShape.join(", ")}].`],
    type: "tf.Tensor4D",
  });
}

/** The module of one resolved spec. */
export function emitModule(entry: EmitEntry, options: EmitOptions = {}): EmittedModule {
  const g = options.graph ?? buildGraph(entry.spec);
  const ids = identifiers(g);
  const project = new Project({ useInMemoryFileSystem: true });
  const fileName = moduleFileName(entry.name);
  const sf = project.createSourceFile(`/out/${fileName}`, "");

  sf.addImportDeclaration({ isTypeOnly: true, namespaceImport: "tf", moduleSpecifier: "@tensorflow/tfjs" });
  sf.addImportDeclaration({
    namespaceImport: "op",
    moduleSpecifier: options.runtimeModule ?? DEFAULT_RUNTIME_MODULE,
  });

  sf.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    docs: ["The model name."],
    declarations: [{ name: "name", initializer: JSON.stringify(entry.name) }],
  });
  sf.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    docs: ["sha256 of the canonical JSON of the resolved spec (first 16 hex digits)."],
    declarations: [{ name: "specHash", initializer: JSON.stringify(entry.hash) }],
  });
  sf.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    docs: ["The resolved spec (every default filled in)."],
    declarations: [{ name: "config", initializer: `${literal(entry.spec)} as const` }],
  });

  declareParams(sf, g);
  declareInputsAndOutput(sf, g);

  sf.addFunction({
    isExported: true,
    name: "forward",
    docs: [
      `${entry.name}: ${g.nodes.length} IR nodes, unrolled. Inference (dropout off); call inside tf.tidy.`,
    ],
    parameters: [
      { name: "params", type: "Params" },
      { name: "inputs", type: "Inputs" },
    ],
    returnType: "Output",
    statements: forwardBody(g, ids),
  });

  sf.insertStatements(0, [
    `// Generated by \`diffit compile\` from ${entry.file}: do not edit.`,
    `// Model: ${entry.name}`,
    `// Spec hash: ${entry.hash}`,
  ]);
  sf.formatText({ indentSize: 2, convertTabsToSpaces: true, ensureNewLineAtEndOfFile: true });
  return { name: entry.name, fileName, text: sf.getFullText() };
}

/** Reads the model name back from a generated module's header (for the index). */
export function moduleName(text: string): string | undefined {
  return /^\/\/ Model: (.+)$/m.exec(text)?.[1];
}

/** `generated/index.ts`: a typed registry of every module, sorted by name. */
export function emitIndex(entries: readonly { name: string; fileName: string }[]): string {
  const project = new Project({ useInMemoryFileSystem: true });
  const sf = project.createSourceFile(`/out/${INDEX_FILE}`, "");
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const body = sorted.map(
    (e) => `  ${JSON.stringify(e.name)}: () => import(${JSON.stringify(`./${e.fileName}`)}),`,
  );
  sf.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    docs: ["Every generated model, loaded on demand."],
    declarations: [
      { name: "models", initializer: sorted.length ? `{\n${body.join("\n")}\n} as const` : "{} as const" },
    ],
  });
  sf.addTypeAlias({ isExported: true, name: "ModelName", type: "keyof typeof models" });
  sf.insertStatements(0, ["// Generated by `diffit compile`: do not edit."]);
  sf.formatText({ indentSize: 2, convertTabsToSpaces: true, ensureNewLineAtEndOfFile: true });
  return sf.getFullText();
}
