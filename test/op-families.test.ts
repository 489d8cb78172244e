// The op-family layout (docs/architecture.md): every family holds each target's file, importing
// op definitions (what validate, inspect and the ONNX emitters load) never reaches
// @tensorflow/tfjs or a family's PyTorch emitter, and src/compiler never imports src/runtime.
// Imports are read from the source text: `import type` lines load nothing and are skipped.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const OPS = "src/compiler/ops";
const TARGET_FILES = ["def.ts", "tensor.ts", "tfjs.ts", "torch.ts"];

/** The specifiers a module loads when it runs (value imports and re-exports). */
function valueImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/^(import|export)\s+(type\s+)?[^;]*?from\s+"([^"]+)";/gms)) {
    if (!m[2] && m[3]) out.push(m[3]);
  }
  return out;
}

/** Every module `entry` loads, transitively: repository files by path, packages by name. */
function loaded(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of valueImports(file)) {
      if (spec.startsWith(".")) visit(relative(".", resolve(dirname(file), spec)));
      else seen.add(spec);
    }
  };
  visit(entry);
  return seen;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

const families = readdirSync(OPS).filter((name) => statSync(join(OPS, name)).isDirectory());

describe("op families", () => {
  it("are the nine of the registry", () => {
    expect(families.sort()).toEqual(
      [
        "attention",
        "conv",
        "elementwise",
        "embedding",
        "input",
        "layout",
        "linear",
        "norm",
        "resample",
      ].sort(),
    );
  });

  it.each(families)("%s holds a file per target", (family) => {
    const files = readdirSync(join(OPS, family));
    for (const f of TARGET_FILES) expect(files, `${family}/${f}`).toContain(f);
  });

  it.each([
    `${OPS}/index.ts`,
    `${OPS}/primitive-names.ts`,
    `${OPS}/tensor.ts`,
    "src/compiler/pipeline.ts",
    "src/compiler/analysis.ts",
    "src/compiler/emit/onnx/emit.ts",
    "src/compiler/emit/ts/emit-ts.ts",
    "src/compiler/training/train-step.ts",
  ])("%s loads no tfjs and no PyTorch emitter", (entry) => {
    const modules = [...loaded(entry)];
    expect(modules.filter((m) => m.startsWith("@tensorflow/"))).toEqual([]);
    expect(modules.filter((m) => /\/(tfjs|torch)\.ts$/.test(m))).toEqual([]);
  });

  it("src/compiler never imports src/runtime", () => {
    const offending = tsFiles("src/compiler").flatMap((file) =>
      readFileSync(file, "utf8")
        .split("\n")
        .filter((line) => /from\s+"[^"]*\/runtime\//.test(line))
        .map((line) => `${file}: ${line}`),
    );
    expect(offending).toEqual([]);
  });
});
