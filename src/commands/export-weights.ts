// `diffit export-weights`: this project's checkpoint → a state_dict in the official latent DiffiT
// naming and layout (with its derivable buffers), so the weights load into the official PyTorch
// model again. `diffit import` of the result gives back the same checkpoint.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Command } from "commander";
import { buildGraph } from "../compiler/ir/build.ts";
import { validateInstance } from "../compiler/pipeline.ts";
import type { ResolvedSpec } from "../compiler/resolve-defaults.ts";
import { InputError, UsageError } from "../errors.ts";
import { loadWeights } from "../runtime/checkpoint/model-checkpoint.ts";
import { exportOfficial } from "../runtime/checkpoint/official-naming.ts";
import { encodeSafetensors, readSafetensors, writeFileAtomic } from "../runtime/checkpoint/safetensors.ts";
import { type CommandContext, EXIT, loadOne } from "./context.ts";

interface ExportWeightsFlags {
  naming: string;
  out: string;
  spec?: string;
  variant?: string;
  json?: boolean;
  typecheck: boolean;
}

/** The spec a checkpoint was written for: its metadata carries the resolved spec. */
function specOfCheckpoint(path: string): ResolvedSpec {
  const text = readSafetensors(path).metadata.spec;
  if (!text) throw new UsageError(`${path} carries no spec in its metadata; name one with --spec`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InputError(`${path}: the spec in its metadata is not JSON; name the spec with --spec`);
  }
  const r = validateInstance(value);
  if (!r.spec)
    throw new InputError(
      `${path} carries a spec this compiler rejects: ${r.diagnostics.map((d) => d.message).join("; ")}; name the spec with --spec`,
    );
  return r.spec;
}

export function registerExportWeights(program: Command, { io, setExit }: CommandContext): void {
  program
    .command("export-weights")
    .description("write a checkpoint's weights in another naming (official: the latent DiffiT state_dict)")
    .argument("<checkpoint>", "a diffit checkpoint (.safetensors)")
    .option("--naming <naming>", "official: the official latent DiffiT names and layouts", "official")
    .requiredOption("-o, --out <file>", "output state_dict (.safetensors)")
    .option("--spec <spec>", "the spec of the checkpoint (default: the spec in its metadata)")
    .option("--variant <name>", "the variant, for specs with variants")
    .option("--json", "print the result as JSON")
    .option("--no-typecheck", "skip the TypeScript checker on .ts specs")
    .action((file: string, o: ExportWeightsFlags) => {
      if (o.naming !== "official") throw new UsageError(`--naming must be official, got ${o.naming}`);
      if (!o.out.endsWith(".safetensors"))
        throw new UsageError(`-o must name a .safetensors file (the only format written), got ${o.out}`);
      const spec = o.spec ? loadOne(io, o.spec, o.typecheck, o.variant).spec : specOfCheckpoint(file);
      const graph = buildGraph(spec);
      const { weights } = loadWeights(file, graph);
      const tensors = exportOfficial(weights, graph);
      mkdirSync(dirname(o.out), { recursive: true });
      // "format": "pt" is what safetensors' PyTorch helpers write and expect.
      writeFileAtomic(o.out, encodeSafetensors({ tensors, metadata: { format: "pt" } }));
      const info = { out: o.out, spec: spec.name, naming: o.naming, tensors: tensors.size };
      if (o.json) io.out(JSON.stringify(info, null, 2));
      else io.out(`✓ ${file} → ${o.out}: ${tensors.size} tensors in the official naming (${spec.name})`);
      setExit(EXIT.ok);
    });
}
