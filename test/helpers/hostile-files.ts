// Writing a corpus of hostile spec files into a temporary folder, and the patterns their
// diagnostics must match (`file:line:column path: message … [code]`).
import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { CorpusCase } from "./corpus.ts";

/** A small valid image spec that cases derive from. */
export const BASE = {
  family: "image",
  name: "base",
  input: { size: 32, channels: 1 },
  stages: [{ channels: 16, depth: 1, windowSize: 4, heads: 2 }],
  time: { sinusoidDim: 32, tokenDim: 64 },
};

/** The base spec as the lines of a TypeScript spec, `extra` written before its closing brace. */
export function tsSpec(extra = "", head = ""): string {
  return `import { defineSpec } from "diffit";\n${head}\nexport default defineSpec({\n  family: "image",\n  name: "ts",\n  input: { size: 32, channels: 1 },\n  stages: [{ channels: 16, depth: 1, windowSize: 4, heads: 2 }],\n  time: { sinusoidDim: 32, tokenDim: 64 },\n${extra}\n});\n`;
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** `…file:line:column [variant] path: …fragment… [code]` on one line; an empty `path` matches any. */
export function diag(file: string, path: string, fragment: string, code: string): RegExp {
  const at = path === "" ? "\\S+" : escapeRegExp(path);
  // A variant's diagnostics name it in brackets before the path.
  return new RegExp(
    `${escapeRegExp(file)}:\\d+:\\d+ (?:\\[[^\\n]*\\] )?${at}: [^\\n]*${escapeRegExp(fragment)}[^\\n]*\\[${code}\\]`,
  );
}

/** Builds cases whose files live in one folder. */
export class Corpus {
  readonly cases: CorpusCase[] = [];

  constructor(readonly dir: string) {}

  path(name: string): string {
    return join(this.dir, name);
  }

  write(name: string, content: string | Buffer): string {
    const p = this.path(name);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
    return p;
  }

  json(name: string, value: unknown): string {
    return this.write(name, JSON.stringify(value, null, 2));
  }

  /** A spec: BASE with `fields` added or replaced. */
  spec(name: string, fields: Record<string, unknown> = {}): string {
    return this.json(name, { ...BASE, name: name.replace(/\W/g, "-"), ...fields });
  }

  fifo(name: string): string {
    const p = this.path(name);
    mkdirSync(dirname(p), { recursive: true });
    execFileSync("mkfifo", [p]);
    return p;
  }

  link(name: string, target: string): string {
    const p = this.path(name);
    mkdirSync(dirname(p), { recursive: true });
    symlinkSync(target, p);
    return p;
  }

  /** A `validate` case of one file, expected to fail (exit 1) with each of `expect`. */
  invalid(name: string, file: string, ...expect: (string | RegExp)[]): void {
    this.cases.push({ name, args: ["validate", file], exit: 1, expect });
  }

  /** A `validate` case of one file, expected to pass. */
  valid(name: string, file: string, ...expect: (string | RegExp)[]): void {
    this.cases.push({ name, args: ["validate", file], exit: 0, expect: [/✓ /, ...expect] });
  }

  add(name: string, args: string[], exit: number, ...expect: (string | RegExp)[]): void {
    this.cases.push({ name, args, exit, expect });
  }
}

/** Deterministic bytes for "binary garbage" cases (xorshift32). */
export function garbage(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
