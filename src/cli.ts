// The `diffit` command line. Exit codes: 0 ok, 1 invalid spec, 2 usage error.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { Command, CommanderError, Option } from "commander";
import { registerCompile } from "./commands/compile.ts";
import {
  checkFile,
  EXIT,
  type Io,
  loadAll,
  nonNegativeInt,
  positiveInt,
  printDiagnostics,
  summary,
} from "./commands/context.ts";
import { registerDemo } from "./commands/demo.ts";
import { registerEncode } from "./commands/encode.ts";
import { registerEval } from "./commands/eval.ts";
import { registerExport } from "./commands/export.ts";
import { registerExportWeights } from "./commands/export-weights.ts";
import { registerImport } from "./commands/import.ts";
import { registerSample } from "./commands/sample.ts";
import { registerTrain } from "./commands/train.ts";
import { analyze, groupRows } from "./compiler/analysis.ts";
import { buildGraph } from "./compiler/ir/build.ts";
import { specJsonSchema } from "./compiler/json-schema.ts";
import { formatReport, humanCount } from "./compiler/report.ts";
import { specReferenceMarkdown } from "./compiler/spec-reference.ts";
import { UsageError } from "./errors.ts";
import { BACKENDS, describeBackend, selectBackend } from "./runtime/backend.ts";
import { buildAndCheck } from "./runtime/build-model.ts";

const stdio: Io = {
  out: (t) => process.stdout.write(t.endsWith("\n") ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith("\n") ? t : `${t}\n`),
};

export function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const program = new Command("diffit")
    .description("Compile DiffiT specs: validate, resolve variants, inspect shapes, parameters and MACs.")
    .version("0.1.0")
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError()
    .exitOverride();

  const typecheckOption = new Option("--no-typecheck", "skip the TypeScript checker on .ts specs (faster)");

  program
    .command("validate")
    .description("check specs and report every error at once (file:line:column path: message (hint))")
    .argument("<specs...>", "spec files (.json or .ts)")
    .option("--json", "print results as JSON")
    .addOption(typecheckOption)
    .action((files: string[], o: { json?: boolean; typecheck: boolean }) => {
      // Each file's result is printed as soon as it is known: a slow or broken file does not
      // hide the others'. JSON is one document, printed at the end.
      const results = files.map((f) => {
        const r = checkFile(f, o.typecheck);
        if (!o.json) {
          printDiagnostics(io, r.diagnostics);
          io.out(summary(r));
        }
        return r;
      });
      if (o.json) {
        io.out(
          JSON.stringify(
            results.map((r) => ({
              file: r.file,
              ok: r.ok,
              specs: r.entries.map((e) => e.name),
              diagnostics: r.diagnostics,
            })),
            null,
            2,
          ),
        );
      }
      setExit(results.every((r) => r.ok) ? EXIT.ok : EXIT.invalid);
    });

  program
    .command("resolve")
    .description("print the resolved specs: extends merged, variants expanded, every default filled in")
    .argument("<spec>", "spec file")
    .option("--json", "print one JSON array of {name, hash, spec}")
    .addOption(typecheckOption)
    .action((file: string, o: { json?: boolean; typecheck: boolean }) => {
      const entries = loadAll(io, file, o.typecheck);
      const list = entries.map((e) => ({ name: e.name, hash: e.hash, spec: e.spec }));
      if (o.json) io.out(JSON.stringify(list, null, 2));
      else
        for (const e of list) io.out(`# ${e.name} (sha256 ${e.hash})\n${JSON.stringify(e.spec, null, 2)}\n`);
      setExit(EXIT.ok);
    });

  program
    .command("inspect")
    .description("per-layer output shapes, parameters and MACs (linear/conv and attention), with totals")
    .argument("<spec>", "spec file")
    .option("--json", "print the analysis as JSON")
    .option(
      "--depth <n>",
      "aggregate layers to this many name levels (e.g. 1: top-level modules)",
      positiveInt("--depth"),
    )
    .addOption(typecheckOption)
    .action((file: string, o: { json?: boolean; depth?: number; typecheck: boolean }) => {
      const entries = loadAll(io, file, o.typecheck);
      const reports = entries.map((e) => {
        const a = analyze(buildGraph(e.spec));
        return { entry: e, analysis: a, rows: o.depth ? groupRows(a.rows, o.depth) : a.rows };
      });
      if (o.json) {
        io.out(
          JSON.stringify(
            reports.map(({ entry, analysis, rows }) => ({
              name: entry.name,
              hash: entry.hash,
              family: analysis.family,
              rows,
              totals: analysis.totals,
            })),
            null,
            2,
          ),
        );
      } else {
        io.out(reports.map(({ analysis, rows }) => formatReport(analysis, rows)).join("\n"));
      }
      setExit(EXIT.ok);
    });

  program
    .command("schema")
    .description("write the JSON Schema of specs (generated from the zod source), for editors via $schema")
    .option("-o, --out <file>", "write to this file instead of stdout")
    .option("--reference", "write the Markdown spec reference instead (docs/spec-reference.md)")
    .option("--json", "accepted for symmetry: the schema is JSON")
    .action((o: { out?: string; reference?: boolean }) => {
      const text = o.reference ? specReferenceMarkdown() : `${JSON.stringify(specJsonSchema(), null, 2)}\n`;
      if (o.out) {
        mkdirSync(dirname(o.out), { recursive: true });
        writeFileSync(o.out, text);
        io.err(`wrote ${o.out}`);
      } else {
        io.out(text);
      }
      setExit(EXIT.ok);
    });

  program
    .command("build")
    .description(
      "compile a spec to a tfjs model on the best backend, run one forward pass, optionally save the initial weights",
    )
    .argument("<spec>", "spec file (a spec with variants builds each variant)")
    .option(
      "--backend <name>",
      `tfjs backend: ${BACKENDS.join(", ")} (default: the fastest that loads; also DIFFIT_BACKEND)`,
    )
    .option(
      "--seed <n>",
      "initialisation seed (default: training.seed of the spec)",
      nonNegativeInt("--seed"),
    )
    .option("-o, --out <file>", "write the initialised weights as safetensors (one spec only)")
    .option("--json", "print the reports as JSON")
    .addOption(typecheckOption)
    .action(
      async (
        file: string,
        o: { backend?: string; seed?: number; out?: string; json?: boolean; typecheck: boolean },
      ) => {
        const entries = loadAll(io, file, o.typecheck);
        if (o.out && entries.length !== 1) {
          throw new CommanderError(
            EXIT.usage,
            "diffit.out",
            `--out needs a spec with one variant; ${file} has ${entries.length}`,
          );
        }
        const backend = await selectBackend(o.backend);
        io.err(describeBackend(backend));
        const reports = entries.map((e) => buildAndCheck(e, o.seed ?? e.spec.training.seed, o.out));
        if (o.json) io.out(JSON.stringify({ backend: backend.name, reports }, null, 2));
        else {
          for (const b of reports) {
            const saved = b.checkpoint ? `; weights written to ${b.checkpoint}` : "";
            io.out(
              `✓ ${b.name}: ${b.variables} variables, ${humanCount(b.params)} parameters, output [${b.outputShape.join(", ")}], forward ${b.forwardMs.toFixed(0)} ms${saved}`,
            );
          }
        }
        setExit(EXIT.ok);
      },
    );

  registerTrain(program, { io, setExit });
  registerEncode(program, { io, setExit });
  registerSample(program, { io, setExit });
  registerDemo(program, { io, setExit });
  registerExport(program, { io, setExit });
  registerEval(program, { io, setExit });
  registerCompile(program, { io, setExit });
  registerImport(program, { io, setExit });
  registerExportWeights(program, { io, setExit });
  return program;
}

export { EXIT };

/** Runs the CLI on argv and returns the exit code (never calls process.exit). */
export async function main(argv: readonly string[], io: Io = stdio): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv]);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0 through the same path as usage errors.
      if (e.exitCode !== 0 && e.code.startsWith("diffit.")) io.err(`error: ${e.message}`);
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof UsageError) {
      io.err(`error: ${e.message}`);
      return EXIT.usage;
    }
    if (e instanceof Error && process.env.DIFFIT_DEBUG !== "1") {
      io.err(`error: ${e.message}`);
      return EXIT.invalid;
    }
    throw e;
  }
  return code;
}
