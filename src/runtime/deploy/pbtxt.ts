// Protobuf text format, the `config.pbtxt` of a Triton model: a writer for typed messages and a
// parser that keeps every field occurrence (with its line), so that a test can check a written
// file against a schema. Only what model configurations use: strings, integers, enum names,
// booleans, nested messages and repeated fields. No dependency does the text format
// (protobufjs reads .proto files and the binary format only). Node-free.

/** An enum value, written bare (`TYPE_FP32`), unlike a string. */
export class PbEnum {
  constructor(readonly name: string) {}
}

export const pbEnum = (name: string): PbEnum => new PbEnum(name);

export type PbScalar = string | number | boolean | PbEnum;

/** A message: fields in the order they are written; undefined fields are left out. */
export type PbMessage = { readonly [field: string]: PbField | undefined };

export type PbField = PbScalar | PbMessage | readonly PbScalar[] | readonly PbMessage[];

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

const isScalar = (v: unknown): v is PbScalar =>
  typeof v === "string" || typeof v === "number" || typeof v === "boolean" || v instanceof PbEnum;

/** A string literal: printable ASCII as is, everything else as octal escapes of its UTF-8 bytes. */
function quote(s: string): string {
  let out = '"';
  for (const byte of new TextEncoder().encode(s)) {
    const c = String.fromCharCode(byte);
    if (c === '"' || c === "\\") out += `\\${c}`;
    else if (byte >= 0x20 && byte < 0x7f) out += c;
    else out += `\\${byte.toString(8).padStart(3, "0")}`;
  }
  return `${out}"`;
}

function scalarText(v: PbScalar, field: string): string {
  if (typeof v === "string") return quote(v);
  if (typeof v === "boolean") return String(v);
  if (v instanceof PbEnum) {
    if (!IDENTIFIER.test(v.name)) throw new Error(`${field}: ${JSON.stringify(v.name)} is not an enum name`);
    return v.name;
  }
  // Model configurations hold integers only; a fraction or NaN here is a bug in the caller.
  if (!Number.isSafeInteger(v)) throw new Error(`${field}: ${v} is not an integer`);
  return String(v);
}

function fieldLines(name: string, v: PbField, indent: string): string[] {
  if (!IDENTIFIER.test(name)) throw new Error(`${JSON.stringify(name)} is not a field name`);
  const inner = `${indent}  `;
  if (isScalar(v)) return [`${indent}${name}: ${scalarText(v, name)}`];
  if (!Array.isArray(v)) return [`${indent}${name} {`, ...messageLines(v as PbMessage, inner), `${indent}}`];
  const items = v as readonly (PbScalar | PbMessage)[];
  if (items.every(isScalar)) {
    const list = items.map((x) => scalarText(x, name)).join(", ");
    return [`${indent}${name}: [${list ? ` ${list} ` : " "}]`];
  }
  const blocks = items.map((m, i) => {
    if (isScalar(m)) throw new Error(`${name}: a list mixes messages and values`);
    const comma = i < items.length - 1 ? "," : "";
    return [`${inner}{`, ...messageLines(m, `${inner}  `), `${inner}}${comma}`];
  });
  return [`${indent}${name} [`, ...blocks.flat(), `${indent}]`];
}

function messageLines(m: PbMessage, indent: string): string[] {
  return Object.entries(m).flatMap(([name, v]) => (v === undefined ? [] : fieldLines(name, v, indent)));
}

/** The message in text format, one field per line, nested messages indented by two spaces. */
export function formatPbtxt(m: PbMessage): string {
  return `${messageLines(m, "").join("\n")}\n`;
}

// ---- parsing ----

export type PbtxtValue =
  | { kind: "string"; value: string }
  | { kind: "number"; value: number; text: string }
  /** Enum names and the booleans true/false: which one it is depends on the field's type. */
  | { kind: "identifier"; value: string }
  | { kind: "message"; fields: PbtxtField[] };

export interface PbtxtField {
  name: string;
  value: PbtxtValue;
  /** Written in list syntax (`dims: [ 1, 2 ]`): only repeated fields may be. */
  inList: boolean;
  line: number;
}

export class PbtxtSyntaxError extends Error {
  override name = "PbtxtSyntaxError";
}

type Token =
  | { t: "ident"; v: string; line: number }
  | { t: "string"; v: string; line: number }
  | { t: "number"; v: string; line: number }
  | { t: "punct"; v: string; line: number }
  | { t: "end"; v: ""; line: number };

const NUMBER = /^-?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)[fF]?/;
const ESCAPES: Record<string, number> = {
  n: 10,
  r: 13,
  t: 9,
  a: 7,
  b: 8,
  f: 12,
  v: 11,
  "\\": 92,
  "'": 39,
  '"': 34,
  "?": 63,
};

/** The bytes of a quoted string starting at `text[start]`, and where it ends. */
function readString(text: string, start: number, line: number): { value: string; end: number } {
  const q = text[start];
  const bytes: number[] = [];
  const enc = new TextEncoder();
  let i = start + 1;
  for (;;) {
    const c = text[i];
    if (c === undefined || c === "\n") throw new PbtxtSyntaxError(`line ${line}: a string is not closed`);
    if (c === q) break;
    if (c !== "\\") {
      bytes.push(...enc.encode(c));
      i++;
      continue;
    }
    const e = text[i + 1] ?? "";
    const octal = /^[0-7]{1,3}/.exec(text.slice(i + 1, i + 4));
    const hex = /^[xX]([0-9a-fA-F]{1,2})/.exec(text.slice(i + 1, i + 4));
    if (octal) {
      bytes.push(Number.parseInt(octal[0], 8) & 0xff);
      i += 1 + octal[0].length;
    } else if (hex?.[1]) {
      bytes.push(Number.parseInt(hex[1], 16));
      i += 1 + hex[0].length;
    } else if (ESCAPES[e] !== undefined) {
      bytes.push(ESCAPES[e]);
      i += 2;
    } else throw new PbtxtSyntaxError(`line ${line}: unknown escape \\${e}`);
  }
  return { value: new TextDecoder().decode(new Uint8Array(bytes)), end: i + 1 };
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i] ?? "";
    const rest = text.slice(i, i + 64);
    if (c === "\n") line++;
    if (/\s/.test(c)) i++;
    else if (c === "#") while (i < text.length && text[i] !== "\n") i++;
    else if ("{}[]<>:,;".includes(c)) tokens.push({ t: "punct", v: text[i++] ?? "", line });
    else if (c === '"' || c === "'") {
      const s = readString(text, i, line);
      tokens.push({ t: "string", v: s.value, line });
      i = s.end;
    } else if (NUMBER.test(rest)) {
      const n = NUMBER.exec(rest)?.[0] ?? "";
      tokens.push({ t: "number", v: n, line });
      i += n.length;
    } else if (/[A-Za-z_]/.test(c)) {
      const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest)?.[0] ?? "";
      tokens.push({ t: "ident", v: id, line });
      i += id.length;
    } else throw new PbtxtSyntaxError(`line ${line}: unexpected character ${JSON.stringify(c)}`);
  }
  tokens.push({ t: "end", v: "", line });
  return tokens;
}

class Parser {
  private k = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.k] ?? { t: "end", v: "", line: 0 };
  }
  private next(): Token {
    const tok = this.peek();
    this.k++;
    return tok;
  }
  private isPunct(v: string): boolean {
    const tok = this.peek();
    return tok.t === "punct" && tok.v === v;
  }
  private expect(v: string): void {
    const tok = this.next();
    if (tok.t !== "punct" || tok.v !== v)
      throw new PbtxtSyntaxError(
        `line ${tok.line}: expected "${v}", found ${tok.t === "end" ? "the end" : JSON.stringify(tok.v)}`,
      );
  }

  /** Fields up to `close` (a brace or the end of the text). */
  message(close: string | undefined): PbtxtField[] {
    const fields: PbtxtField[] = [];
    for (;;) {
      const tok = this.peek();
      if (close === undefined ? tok.t === "end" : this.isPunct(close)) return fields;
      if (tok.t === "end") throw new PbtxtSyntaxError(`line ${tok.line}: expected "${close}", found the end`);
      if (tok.t !== "ident")
        throw new PbtxtSyntaxError(`line ${tok.line}: expected a field name, found ${JSON.stringify(tok.v)}`);
      this.next();
      fields.push(...this.fieldValues(tok.v, tok.line));
      if (this.isPunct(",") || this.isPunct(";")) this.next();
    }
  }

  private fieldValues(name: string, line: number): PbtxtField[] {
    const colon = this.isPunct(":");
    if (colon) this.next();
    if (this.isPunct("[")) {
      this.next();
      const values: PbtxtValue[] = [];
      while (!this.isPunct("]")) {
        if (values.length > 0) this.expect(",");
        values.push(this.value(true));
      }
      this.next();
      if (!colon && values.some((v) => v.kind !== "message"))
        throw new PbtxtSyntaxError(
          `line ${line}: ${name}: a list of values needs a colon after the field name`,
        );
      return values.map((value) => ({ name, value, inList: true, line }));
    }
    if (!colon && !this.isPunct("{") && !this.isPunct("<"))
      throw new PbtxtSyntaxError(`line ${line}: ${name}: expected ":" before its value`);
    return [{ name, value: this.value(colon), inList: false, line }];
  }

  private value(scalarAllowed: boolean): PbtxtValue {
    const tok = this.next();
    if (tok.t === "punct" && (tok.v === "{" || tok.v === "<")) {
      const fields = this.message(tok.v === "{" ? "}" : ">");
      this.next();
      return { kind: "message", fields };
    }
    if (!scalarAllowed || tok.t === "punct" || tok.t === "end")
      throw new PbtxtSyntaxError(
        `line ${tok.line}: expected a value, found ${tok.t === "end" ? "the end" : JSON.stringify(tok.v)}`,
      );
    if (tok.t === "string") {
      let value = tok.v;
      // Adjacent string literals are one string, as in C.
      while (this.peek().t === "string") value += this.next().v;
      return { kind: "string", value };
    }
    if (tok.t === "number") return { kind: "number", value: Number(tok.v.replace(/[fF]$/, "")), text: tok.v };
    return { kind: "identifier", value: tok.v };
  }
}

/** Parses a text-format message into its field occurrences; throws PbtxtSyntaxError naming the line. */
export function parsePbtxt(text: string): PbtxtField[] {
  return new Parser(tokenize(text)).message(undefined);
}
