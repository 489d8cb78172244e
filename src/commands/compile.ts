// `diffit compile`: one typed TypeScript module per resolved spec (variants expand into one file
// each) plus a typed registry (index.ts), and a comparison table of the variants.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { analyze } from "../compiler/analysis.ts";
import { emitIndex, emitModule, INDEX_FILE, moduleName } from "../compiler/emit/ts/emit-ts.ts";
import { buildGraph } from "../compiler/ir/build.ts";
import type { ResolvedEntry } from "../compiler/pipeline.ts";
import { humanCount, table } from "../compiler/report.ts";
import { type CommandContext, type Io, loadAll } from "./context.ts";

const PRIMITIVES = resolve(dirname(fileURLToPath(import.meta.url)), "../runtime/tfjs/primitives.ts");

/** How a module in `outDir` imports the runtime primitives (a relative, POSIX specifier). */
export function runtimeSpecifier(outDir: string): string {
  const rel = relative(resolve(outDir), PRIMITIVES).split(sep).join("/");
  return rel.startsWith(".") ? rel : `./${rel}`;
}

export interface CompiledModule {
  name: string;
  file: string;
  fileName: string;
  hash: string;
  params: number;
  macs: number;
  /** Per-sample float32 activation bytes (analysis estimate). */
  activationBytes: number;
  text: string;
}

export interface CompilePlan {
  modules: CompiledModule[];
  /** Text of index.ts over these modules and `others` (modules already in the directory). */
  index: string;
}

/** Emits every entry in memory; `others` are further modules the index lists (name, fileName). */
export function planCompile(
  entries: readonly ResolvedEntry[],
  outDir: string,
  others: readonly { name: string; fileName: string }[] = [],
): CompilePlan {
  const runtimeModule = runtimeSpecifier(outDir);
  const modules = entries.map((e): CompiledModule => {
    const graph = buildGraph(e.spec);
    const m = emitModule(e, { graph, runtimeModule });
    const { totals } = analyze(graph);
    return {
      name: e.name,
      file: e.file,
      fileName: m.fileName,
      hash: e.hash,
      params: totals.params,
      macs: totals.macs,
      activationBytes: totals.activationBytes,
      text: m.text,
    };
  });
  const listed = new Map<string, { name: string; fileName: string }>();
  for (const o of others) listed.set(o.fileName, o);
  for (const m of modules) listed.set(m.fileName, { name: m.name, fileName: m.fileName });
  return { modules, index: emitIndex([...listed.values()]) };
}

/** Generated modules already in a directory (read back from their headers). */
export function existingModules(outDir: string): { name: string; fileName: string }[] {
  let files: string[];
  try {
    files = readdirSync(outDir);
  } catch {
    return [];
  }
  return files
    .filter((f) => f.endsWith(".ts") && f !== INDEX_FILE)
    .sort()
    .flatMap((fileName) => {
      const name = moduleName(readFileSync(join(outDir, fileName), "utf8"));
      return name ? [{ name, fileName }] : [];
    });
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

export function comparisonTable(modules: readonly CompiledModule[]): string {
  return table(
    ["model", "params", "MACs", "activations/sample", "file"],
    modules.map((m) => [
      m.name,
      humanCount(m.params),
      humanCount(m.macs),
      mib(m.activationBytes),
      m.fileName,
    ]),
    [1, 2, 3],
  );
}

interface CompileFlags {
  out: string;
  json?: boolean;
  typecheck: boolean;
  index: boolean;
}

export function compileFiles(io: Io, files: readonly string[], o: CompileFlags): CompilePlan {
  const entries = files.flatMap((f) => loadAll(io, f, o.typecheck));
  const others = o.index ? existingModules(o.out) : [];
  const plan = planCompile(entries, o.out, others);
  mkdirSync(o.out, { recursive: true });
  for (const m of plan.modules) writeFileSync(join(o.out, m.fileName), m.text);
  if (o.index) writeFileSync(join(o.out, INDEX_FILE), plan.index);
  return plan;
}

export function registerCompile(program: Command, { io }: CommandContext): void {
  program
    .command("compile")
    .description(
      "emit a typed TypeScript module per resolved spec (variants: one file each) and an index, and compare them",
    )
    .argument("<specs...>", "spec files")
    .option("-o, --out <dir>", "output directory", "generated")
    .option("--json", "print the comparison as JSON")
    .option("--no-index", "do not write index.ts")
    .option("--no-typecheck", "skip the TypeScript checker on .ts specs")
    .action((files: string[], o: CompileFlags) => {
      const plan = compileFiles(io, files, o);
      if (o.json) {
        const modules = plan.modules.map(({ text: _text, ...m }) => ({
          ...m,
          path: join(o.out, m.fileName),
        }));
        io.out(JSON.stringify({ out: o.out, modules }, null, 2));
        return;
      }
      io.out(comparisonTable(plan.modules));
      io.out(
        `\nwrote ${plan.modules.length} module(s)${o.index ? ` and ${INDEX_FILE}` : ""} to ${o.out}/ (activations: per-sample float32 estimate)`,
      );
    });
}
