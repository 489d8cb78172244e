// The text of a spec file, read safely: a regular file within the size limits, UTF-8 without
// binary data, and brackets nested no deeper than the parsers can take (jsonc-parser and
// TypeScript's parser recurse once per level, so 100,000 levels would overflow the stack
// before any of our checks ran). Positions become line:column through a line table.
import { isUtf8 } from "node:buffer";
import { readRegularFile } from "../../files.ts";
import { formatBytes, LIMITS } from "../../limits.ts";
import { type Diagnostic, error, type SourceLocation } from "../diagnostics.ts";

/** Offsets → line:column in O(log lines), for every position of one text. */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(text: string) {
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) this.starts.push(i + 1);
  }

  at(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (this.starts[lo] ?? 0) + 1 };
  }
}

/** What one spec and everything it reads (extends, imports) may spend, shared by all the reads. */
export class ReadBudget {
  files = 0;
  bytes = 0;

  /** Counts a file about to be read; the reason it may not be, when it may not. */
  chargeFile(): string | undefined {
    this.files++;
    if (this.files <= LIMITS.specFiles) return undefined;
    return `this spec reads more than ${LIMITS.specFiles} spec files through extends and imports`;
  }

  chargeBytes(n: number): string | undefined {
    this.bytes += n;
    if (this.bytes <= LIMITS.specTreeBytes) return undefined;
    return `this spec's files (extends and imports together) are more than ${formatBytes(LIMITS.specTreeBytes)}`;
  }
}

export type SpecText = { text: string; lines: LineIndex } | { diagnostics: Diagnostic[] };

const at = (file: string, line = 1, column = 1): SourceLocation => ({ file, line, column });

function fail(code: "DF101" | "DF108" | "DF109", file: string, message: string, hint?: string): SpecText {
  return { diagnostics: [{ ...error(code, [], message, hint), location: at(file) }] };
}

/** Byte offset of the first invalid UTF-8 sequence in `buf` (the buffer is known to have one). */
function firstInvalidUtf8(buf: Buffer): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i] ?? 0;
    const n =
      b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (n === 0 || i + n > buf.length) return i;
    if (n > 1 && !isUtf8(buf.subarray(i, i + n))) return i;
    i += n;
  }
  return buf.length;
}

function decode(file: string, buf: Buffer): SpecText {
  if ((buf[0] === 0xff && buf[1] === 0xfe) || (buf[0] === 0xfe && buf[1] === 0xff)) {
    return fail("DF109", file, `${file} is UTF-16 text`, "save the spec as UTF-8");
  }
  const bom = buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  const body = buf.subarray(bom);
  if (!isUtf8(body)) {
    const bad = firstInvalidUtf8(body);
    const before = body.subarray(0, bad).toString("utf8");
    const where = new LineIndex(before).at(before.length);
    const byte = (body[bad] ?? 0).toString(16).padStart(2, "0");
    return {
      diagnostics: [
        {
          ...error("DF109", [], `byte 0x${byte} is not UTF-8 text`, "save the spec as UTF-8 text"),
          location: at(file, where.line, where.column),
        },
      ],
    };
  }
  const text = body.toString("utf8");
  const lines = new LineIndex(text);
  const nul = text.indexOf("\0");
  if (nul >= 0) {
    const where = lines.at(nul);
    return {
      diagnostics: [
        {
          ...error(
            "DF109",
            [],
            "binary data (a NUL byte): this is not a spec",
            "give the path of a spec file",
          ),
          location: at(file, where.line, where.column),
        },
      ],
    };
  }
  return { text, lines };
}

/**
 * Whether `d` says that `file` itself could not be read (missing, not a regular file, over a
 * budget): such an error belongs where the file is named (an `extends` or an import).
 */
export function readFailure(d: Diagnostic, file: string): boolean {
  if (d.location?.file !== file) return false;
  if (d.code === "DF101" || d.code === "DF106") return true;
  return d.code === "DF108" && d.message.startsWith(`cannot read ${file}:`);
}

/** Reads a spec file's text, charging it to `budget`; errors are DF101/DF108/DF109 diagnostics. */
export function readSpecText(file: string, budget: ReadBudget): SpecText {
  const tooMany = budget.chargeFile();
  if (tooMany)
    return fail("DF108", file, `cannot read ${file}: ${tooMany}`, "flatten the extends chain or imports");
  let buf: Buffer;
  try {
    buf = readRegularFile(file, {
      what: "spec",
      maxBytes: LIMITS.specBytes,
      hint: "a spec describes a model in a few kilobytes",
    });
  } catch (e) {
    return fail("DF101", file, e instanceof Error ? e.message : String(e));
  }
  const tooLarge = budget.chargeBytes(buf.length);
  if (tooLarge)
    return fail("DF108", file, `cannot read ${file}: ${tooLarge}`, "flatten the extends chain or imports");
  return decode(file, buf);
}

/**
 * Offset of the first opening bracket nested deeper than `limit`, in one linear pass that skips
 * strings, template literals and comments (JSON is scanned the same way: a quote or slash that
 * JSON does not allow is a syntax error anyway). Regular-expression literals are not recognised,
 * so a bracket inside one may be miscounted; TypeScript's parse is guarded separately.
 */
export function tooDeepAt(text: string, limit: number): number | undefined {
  // Open brackets; "`" marks a template literal, "${" an expression inside one.
  const stack: string[] = [];
  let depth = 0;
  let i = 0;
  const n = text.length;
  const skipString = (quote: string): void => {
    for (i++; i < n; i++) {
      const c = text[i];
      if (c === "\\") i++;
      else if (c === quote || c === "\n") return;
    }
  };
  while (i < n) {
    const c = text[i];
    const inTemplate = stack[stack.length - 1] === "`";
    if (inTemplate) {
      if (c === "\\") i++;
      else if (c === "`") stack.pop();
      else if (c === "$" && text[i + 1] === "{") {
        stack.push("${");
        if (++depth > limit) return i;
        i++;
      }
      i++;
      continue;
    }
    if (c === '"' || c === "'") skipString(c);
    else if (c === "`") stack.push("`");
    else if (c === "/" && text[i + 1] === "/") i = endOf(text.indexOf("\n", i), n);
    else if (c === "/" && text[i + 1] === "*") i = endOf(text.indexOf("*/", i + 2) + 1, n);
    else if (c === "{" || c === "[" || c === "(") {
      stack.push(c);
      if (++depth > limit) return i;
    } else if ((c === "}" || c === "]" || c === ")") && depth > 0) {
      // In code the top is a bracket or a template's "${", which returns to the template.
      stack.pop();
      depth--;
    }
    i++;
  }
  return undefined;
}

/** Where a skipped comment ends: `found` (an index, or ≤ 0 when it runs to the end) or `n`. */
const endOf = (found: number, n: number): number => (found <= 0 ? n : found);

/** The DF108 diagnostic for brackets nested deeper than `limit` at `offset`. */
export function tooDeep(file: string, lines: LineIndex, offset: number, limit: number): Diagnostic {
  const { line, column } = lines.at(offset);
  return {
    ...error(
      "DF108",
      [],
      `objects and arrays nest more than ${limit} levels deep here`,
      "a spec needs a few levels; flatten the value",
    ),
    location: at(file, line, column),
  };
}
