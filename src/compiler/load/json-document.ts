// JSON specs are parsed with jsonc-parser, which keeps offsets, so every error can name
// file:line:column. Comments are rejected: a spec is plain JSON that any tool can read.
import { readFileSync } from "node:fs";
import { type Node, type ParseError, parseTree, printParseErrorCode } from "jsonc-parser";
import { error, type SourceLocation } from "../diagnostics.ts";
import { LocationTable, type SpecDocument } from "./document.ts";

export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

function evaluate(
  node: Node,
  path: (string | number)[],
  table: LocationTable,
  at: (o: number) => SourceLocation,
): unknown {
  table.set(path, at(node.parent?.type === "property" ? node.parent.offset : node.offset));
  switch (node.type) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const prop of node.children ?? []) {
        const [keyNode, valueNode] = prop.children ?? [];
        if (!keyNode || !valueNode) continue;
        const key = String(keyNode.value);
        out[key] = evaluate(valueNode, [...path, key], table, at);
      }
      return out;
    }
    case "array":
      return (node.children ?? []).map((child, i) => evaluate(child, [...path, i], table, at));
    default:
      return node.value;
  }
}

export function parseJsonSpec(file: string, text: string): SpecDocument {
  const table = new LocationTable();
  const at = (offset: number): SourceLocation => ({ file, ...lineColumn(text, offset) });
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: false, disallowComments: true });
  const diagnostics = errors.map((e) => ({
    ...error(
      "DF102",
      [],
      `${printParseErrorCode(e.error)} in JSON`,
      "check commas, quotes and brackets near here",
    ),
    location: at(e.offset),
  }));
  const value = root && diagnostics.length === 0 ? evaluate(root, [], table, at) : undefined;
  return { file, value, locate: table.locate, diagnostics };
}

export function readJsonSpec(file: string): SpecDocument {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return unreadable(file, e);
  }
  return parseJsonSpec(file, text);
}

export function unreadable(file: string, e: unknown): SpecDocument {
  const reason = e instanceof Error ? e.message : String(e);
  return {
    file,
    value: undefined,
    locate: () => undefined,
    diagnostics: [
      {
        ...error("DF101", [], `cannot read ${file}: ${reason}`, "check the path"),
        location: { file, line: 1, column: 1 },
      },
    ],
  };
}
