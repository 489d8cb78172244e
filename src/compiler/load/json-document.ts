// JSON specs are parsed with jsonc-parser, which keeps offsets, so every error can name
// file:line:column. Comments are rejected: a spec is plain JSON that any tool can read. The
// text is checked for depth before parsing (see source-text.ts), and evaluation refuses keys
// that reach prototypes, duplicate keys, numbers too large for a double and oversized values.
import { type Node, type ParseError, parseTree, printParseErrorCode } from "jsonc-parser";
import { LIMITS } from "../../limits.ts";
import { type Diagnostic, error, type SourceLocation, type SpecPath } from "../diagnostics.ts";
import { isReservedKey, reservedKey } from "../reserved-keys.ts";
import { LocationTable, type SpecDocument } from "./document.ts";
import { type LineIndex, ReadBudget, readSpecText, tooDeep, tooDeepAt } from "./source-text.ts";

/** Builds a spec value from jsonc-parser's tree, recording locations and refusing what JSON allows but specs must not. */
class JsonEvaluator {
  readonly table = new LocationTable();
  readonly diagnostics: Diagnostic[] = [];
  private values = 0;

  constructor(
    private readonly file: string,
    private readonly text: string,
    private readonly lines: LineIndex,
  ) {}

  at(offset: number): SourceLocation {
    return { file: this.file, ...this.lines.at(offset) };
  }

  private report(d: Diagnostic, offset: number): undefined {
    this.diagnostics.push({ ...d, location: this.at(offset) });
    return undefined;
  }

  /** Depth is bounded by the scan before parsing, so this recursion is too. */
  evaluate(node: Node, path: SpecPath): unknown {
    const where = node.parent?.type === "property" ? node.parent.offset : node.offset;
    this.table.set(path, this.at(where));
    if (++this.values === LIMITS.specValues + 1) {
      const message = `more than ${LIMITS.specValues} values in one spec file`;
      return this.report(error("DF108", path, message, "a spec needs a few hundred"), where);
    }
    if (node.type === "array")
      return (node.children ?? []).map((child, i) => this.evaluate(child, [...path, i]));
    if (node.type === "object") return this.object(node, path);
    if (node.type === "number" && !Number.isFinite(node.value)) {
      const written = this.text.slice(node.offset, node.offset + Math.min(node.length, 40));
      const message = `the number ${written} is too large for a 64-bit float`;
      return this.report(error("DF203", path, message, "write a number within ±1.7e308"), node.offset);
    }
    return node.value;
  }

  private object(node: Node, path: SpecPath): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const first = new Map<string, number>();
    for (const prop of node.children ?? []) {
      const [keyNode, valueNode] = prop.children ?? [];
      if (!keyNode || !valueNode) continue;
      const key = String(keyNode.value);
      if (isReservedKey(key)) {
        this.report(reservedKey([...path, key], key), prop.offset);
        continue;
      }
      const seen = first.get(key);
      if (seen !== undefined) {
        const message = `duplicate key ${JSON.stringify(key)} (first written at line ${this.lines.at(seen).line})`;
        this.report(error("DF102", [...path, key], message, "remove one of them"), prop.offset);
        continue;
      }
      first.set(key, prop.offset);
      out[key] = this.evaluate(valueNode, [...path, key]);
    }
    return out;
  }
}

/** Whether the sticky `re` matches `text` at `offset` (without copying the rest of the text). */
function matchesAt(re: RegExp, text: string, offset: number): boolean {
  re.lastIndex = offset;
  return re.test(text);
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
  const atEnd = !matchesAt(/\s*\S/y, text, e.offset);
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
      if (prev.ch === "," && matchesAt(/\s*[}\]]/y, text, e.offset)) {
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

export function parseJsonSpec(file: string, text: string, lines: LineIndex): SpecDocument {
  const deep = tooDeepAt(text, LIMITS.specNesting);
  if (deep !== undefined) return failed(file, [tooDeep(file, lines, deep, LIMITS.specNesting)]);
  const evaluator = new JsonEvaluator(file, text, lines);
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: false, disallowComments: true });
  if (text.trim() === "") errors.push({ error: 4 /* ValueExpected */, offset: 0, length: 0 });
  // One error per line: the parser's follow-up errors on the same line are consequences of the first.
  const seenLines = new Set<number>();
  const diagnostics: Diagnostic[] = [];
  for (const e of errors) {
    if (diagnostics.length === LIMITS.syntaxErrors) break;
    const x = explain(text, e);
    const location = evaluator.at(Math.max(0, x.offset));
    if (seenLines.has(location.line)) continue;
    seenLines.add(location.line);
    diagnostics.push({ ...error("DF102", [], x.message, x.hint), location });
  }
  if (!root || diagnostics.length > 0) return failed(file, diagnostics);
  const value = evaluator.evaluate(root, []);
  if (evaluator.diagnostics.length > 0) return failed(file, evaluator.diagnostics);
  return { file, value, locate: evaluator.table.locate, diagnostics: [] };
}

export function readJsonSpec(file: string, budget: ReadBudget = new ReadBudget()): SpecDocument {
  const source = readSpecText(file, budget);
  if ("diagnostics" in source) return failed(file, source.diagnostics);
  return parseJsonSpec(file, source.text, source.lines);
}

/** A document that could not be read or evaluated: no value, only why. */
export function failed(file: string, diagnostics: Diagnostic[]): SpecDocument {
  return { file, value: undefined, locate: () => undefined, diagnostics };
}
