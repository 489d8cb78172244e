// The values a TypeScript spec evaluates to, before they become plain JSON: each part keeps
// where it was written, and each object or array knows its depth and how many values it holds
// once written out (consts can be referenced many times, so a small file could otherwise
// describe an exponentially large value: `const b = [a, a]; const c = [b, b]; …`).
import type { SourceLocation, SpecPath } from "../diagnostics.ts";
import type { LocationTable, SpecDocument } from "./document.ts";

type Scalar = string | number | boolean | null;

export type Tree =
  | { at: SourceLocation; kind: "leaf"; value: Scalar }
  | { at: SourceLocation; kind: "object"; entries: Map<string, Tree>; depth: number; values: number }
  | { at: SourceLocation; kind: "array"; items: Tree[]; depth: number; values: number };

export const depthOf = (t: Tree): number => (t.kind === "leaf" ? 0 : t.depth);
export const valuesOf = (t: Tree): number => (t.kind === "leaf" ? 1 : t.values);

function measure(children: Iterable<Tree>): { depth: number; values: number } {
  let depth = 0;
  let values = 1;
  for (const c of children) {
    depth = Math.max(depth, depthOf(c));
    values += valuesOf(c);
  }
  return { depth: depth + 1, values };
}

export const leaf = (at: SourceLocation, value: Scalar): Tree => ({ at, kind: "leaf", value });

export function objectTree(at: SourceLocation, entries: Map<string, Tree>): Tree {
  return { at, kind: "object", entries, ...measure(entries.values()) };
}

export function arrayTree(at: SourceLocation, items: Tree[]): Tree {
  return { at, kind: "array", items, ...measure(items) };
}

/**
 * Writes every location of `tree` into `table` and returns its plain value. Recursion is
 * bounded: trees deeper than LIMITS.specNesting are refused when they are built.
 */
export function settle(tree: Tree, path: SpecPath, table: LocationTable): unknown {
  table.set(path, tree.at);
  if (tree.kind === "leaf") return tree.value;
  if (tree.kind === "array") return tree.items.map((item, i) => settle(item, [...path, i], table));
  // fromEntries defines own properties; reserved keys were refused when the tree was built.
  return Object.fromEntries([...tree.entries].map(([k, v]) => [k, settle(v, [...path, k], table)]));
}

/**
 * The tree of an imported document's value, keeping the locations its reader recorded.
 * Documents come from the readers, which bound their depth and refuse reserved keys.
 */
export function treeOf(doc: SpecDocument, value: unknown, path: SpecPath): Tree | undefined {
  const at = doc.locate(path) ?? { file: doc.file, line: 1, column: 1 };
  if (value === undefined) return undefined; // the document failed and reported why
  if (Array.isArray(value)) {
    return arrayTree(
      at,
      value.flatMap((v, i) => treeOf(doc, v, [...path, i]) ?? []),
    );
  }
  // Documents hold JSON values: anything but an array or object is a string, number, boolean or null.
  if (typeof value !== "object" || value === null) return leaf(at, value as Scalar);
  const entries = Object.entries(value).flatMap(([k, v]) => {
    const child = treeOf(doc, v, [...path, k]);
    return child ? [[k, child] as const] : [];
  });
  return objectTree(at, new Map(entries));
}
