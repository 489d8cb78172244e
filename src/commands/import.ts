// `diffit import`: an official latent DiffiT state_dict (safetensors, or a torch.save .pt/.pth zip
// whose pickle is parsed, never executed) → this project's checkpoint for a spec, after checking
// every name, shape and derivable buffer.
import { mkdirSync } from "node:fs";
import { basename, dirname } from "node:path";
import type { Command } from "commander";
import { buildGraph } from "../compiler/ir/build.ts";
import { humanCount } from "../compiler/report.ts";
import { checkpointMetadata, saveWeights } from "../runtime/checkpoint/model-checkpoint.ts";
import {
  importOfficial,
  OfficialCheckpointError,
  type OfficialImport,
} from "../runtime/checkpoint/official-naming.ts";
import { readStateDict } from "../runtime/checkpoint/state-dict.ts";
import { type CommandContext, EXIT, loadOne } from "./context.ts";

interface ImportFlags {
  spec: string;
  out: string;
  key?: string;
  variant?: string;
  json?: boolean;
  typecheck: boolean;
}

export function registerImport(program: Command, { io, setExit }: CommandContext): void {
  program
    .command("import")
    .description(
      "import an official latent DiffiT state_dict (.safetensors, or .pt/.pth parsed without executing its pickle) as this spec's checkpoint",
    )
    .argument("<checkpoint>", "official checkpoint: .safetensors, or a torch.save zip (.pt, .pth)")
    .requiredOption(
      "--spec <spec>",
      "the latent spec the weights are for (e.g. specs/latent-diffit-imagenet256.json)",
    )
    .requiredOption("-o, --out <file>", "the checkpoint to write (.safetensors)")
    .option(
      "--key <key>",
      'the state_dict inside a nested checkpoint (e.g. "ema" or "model"; "a/b" for deeper), or a name prefix to strip',
    )
    .option("--variant <name>", "the variant, for specs with variants")
    .option("--json", "print the result as JSON")
    .option("--no-typecheck", "skip the TypeScript checker on .ts specs")
    .action((file: string, o: ImportFlags) => {
      const entry = loadOne(io, o.spec, o.typecheck, o.variant);
      const graph = buildGraph(entry.spec);
      const t0 = performance.now();
      const stateDict = readStateDict(file, o.key);
      let result: OfficialImport;
      try {
        result = importOfficial(stateDict.tensors, graph, file);
      } catch (e) {
        // With --json the problems are printed as values, for scripts to read; exit 1 as ever.
        if (!(o.json && e instanceof OfficialCheckpointError)) throw e;
        io.out(
          JSON.stringify({ ok: false, checkpoint: file, problems: e.problems, hints: e.hints }, null, 2),
        );
        setExit(EXIT.invalid);
        return;
      }
      mkdirSync(dirname(o.out), { recursive: true });
      saveWeights(o.out, result.weights, graph, {
        ...checkpointMetadata(entry),
        importedFrom: basename(file),
        ...(o.key !== undefined ? { importedKey: o.key } : {}),
      });
      const params = [...result.weights.values()].reduce((a, w) => a + w.length, 0);
      const info = {
        ok: true,
        out: o.out,
        spec: entry.name,
        format: stateDict.format,
        tensors: stateDict.tensors.size,
        dtypes: result.dtypes,
        parameters: params,
        checked: result.checked,
        seconds: (performance.now() - t0) / 1000,
      };
      if (o.json) io.out(JSON.stringify(info, null, 2));
      else {
        const dtypes = Object.entries(result.dtypes)
          .map(([d, n]) => `${n} ${d}`)
          .join(", ");
        io.out(
          `✓ ${file} (${stateDict.format}${o.key !== undefined ? `, key ${o.key}` : ""}: ${info.tensors} tensors, ${dtypes}) → ${o.out}: ${humanCount(params)} parameters of ${entry.name}; ${result.checked.length} derivable buffer(s) match this project's own values`,
        );
      }
      setExit(EXIT.ok);
    });
}
