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

/** The last non-blank character before `offset`, and where it is. */
function previousToken(text: string, offset: number): { ch: string; at: number } {
  let i = offset - 1;
  while (i >= 0 && /\s/.test(text[i] ?? "")) i--;
  return { ch: i >= 0 ? (text[i] ?? "") : "", at: i };
}

/** jsonc-parser's error codes, said the way a person would fix them. */
function explain(text: string, e: ParseError): { message: string; hint?: string; offset: number } {
  const code = printParseErrorCode(e.error);
  const here = text[e.offset] ?? "";
  const prev = previousToken(text, e.offset);
  const atEnd = text.slice(e.offset).trim() === "";
  switch (code) {
    case "InvalidCommentToken":
      return {
        message: "comments are not allowed in JSON specs",
        hint: 'put notes in the "description" field',
        offset: e.offset,
      };
    case "InvalidSymbol":
      return here === "'"
        ? { message: "JSON strings and keys need double quotes", hint: "replace ' with \"", offset: e.offset }
        : { message: `unexpected character ${JSON.stringify(here)}`, offset: e.offset };
    case "PropertyNameExpected":
    case "ValueExpected":
      if (prev.ch === "," && /^[}\]]/.test(text.slice(e.offset).trimStart())) {
        return {
          message: "trailing comma is not allowed in JSON",
          hint: "remove the comma",
          offset: prev.at,
        };
      }
      if (atEnd) return { message: "the file ends before the JSON value is complete", offset: e.offset };
      return code === "PropertyNameExpected"
        ? { message: "expected a property name in double quotes", offset: e.offset }
        : { message: "expected a value", offset: e.offset };
    case "CommaExpected":
      // Reported at the next token; the comma belongs after the previous one.
      return { message: "missing comma", hint: "add a comma after the previous value", offset: prev.at + 1 };
    case "ColonExpected":
      return { message: "missing colon after the property name", offset: e.offset };
    case "CloseBraceExpected":
      return { message: 'missing "}"', hint: "close the object", offset: e.offset };
    case "CloseBracketExpected":
      return { message: 'missing "]"', hint: "close the array", offset: e.offset };
    case "EndOfFileExpected":
      return { message: "unexpected content after the end of the spec", offset: e.offset };
    case "UnexpectedEndOfString":
      return { message: "unterminated string", offset: e.offset };
    default:
      return {
        message: `JSON syntax error (${code})`,
        hint: "check commas, quotes and brackets near here",
        offset: e.offset,
      };
  }
}

export function parseJsonSpec(file: string, text: string): SpecDocument {
  const table = new LocationTable();
  const at = (offset: number): SourceLocation => ({ file, ...lineColumn(text, offset) });
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: false, disallowComments: true });
  if (text.trim() === "") errors.push({ error: 4 /* ValueExpected */, offset: 0, length: 0 });
  // One error per line: the parser's follow-up errors on the same line are consequences of the first.
  const seenLines = new Set<number>();
  const diagnostics = [];
  for (const e of errors) {
    const x = explain(text, e);
    const location = at(Math.max(0, x.offset));
    if (seenLines.has(location.line)) continue;
    seenLines.add(location.line);
    diagnostics.push({ ...error("DF102", [], x.message, x.hint), location });
  }
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
