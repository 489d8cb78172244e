// `diffit export` and `diffit verify`: ONNX files for deployment, and their parity with tfjs.

import cliProgress from "cli-progress";
import type { Command } from "commander";
import { SUPPORTED_OPSETS } from "../compiler/emit/onnx/proto.ts";
import { buildGraph } from "../compiler/ir/build.ts";
import { humanCount } from "../compiler/report.ts";
import { UsageError } from "../errors.ts";
import { BACKENDS, describeBackend, selectBackend } from "../runtime/backend.ts";
import { loadWeights } from "../runtime/checkpoint/model-checkpoint.ts";
import { weightsDigest } from "../runtime/checkpoint/weights-digest.ts";
import {
  defaultDenoiserForm,
  denoiserFormProblem,
  writeTritonRepository,
} from "../runtime/deploy/triton-repository.ts";
import { type ExportOptions, exportOnnx } from "../runtime/onnx/export-model.ts";
import { specFromOnnx, verifyOnnx } from "../runtime/onnx/verify.ts";
import {
  type CommandContext,
  EXIT,
  loadOne,
  nonNegativeInt,
  positiveInt,
  positiveNumber,
} from "./context.ts";
import { addTritonOptions, reportTriton, type TritonFlags, tritonServing } from "./export-triton.ts";

interface ExportFlags extends TritonFlags {
  checkpoint?: string;
  randomWeights?: boolean;
  seed: number;
  out?: string;
  opset: number;
  fp16?: boolean;
  denoiser?: string;
  variant?: string;
  json?: boolean;
  typecheck: boolean;
}

export function registerExport(program: Command, { io, setExit }: CommandContext): void {
  const exportCommand = program
    .command("export")
    .description(
      "export a spec with its weights to ONNX (standard ops; symbolic batch; external data above 1.8 GB)",
    )
    .argument("<spec>", "spec file")
    .option("--checkpoint <weights>", "weights of this spec (.safetensors)")
    .option("--random-weights", "use the seeded initialisation instead of a checkpoint (sizing, tests)")
    .option("--seed <n>", "seed for --random-weights", nonNegativeInt("--seed"), 0)
    .option("-o, --out <file>", "output file (default model.onnx)")
    .option("--opset <n>", `ONNX opset: ${SUPPORTED_OPSETS.join(", ")}`, positiveInt("--opset"), 17)
    .option("--fp16", "store weights as float16 (computation, LayerNorm and Softmax stay float32)")
    .option(
      "--denoiser <kind>",
      "raw: the network F; edm: the preconditioned denoiser D(x; sigma) (default: raw; with --triton, edm where the spec has EDM preconditioning)",
    )
    .option("--variant <name>", "the variant, for specs with variants")
    .option("--json", "print the result as JSON")
    .option("--no-typecheck", "skip the TypeScript checker on .ts specs")
    .action((file: string, o: ExportFlags) => {
      if (!(SUPPORTED_OPSETS as readonly number[]).includes(o.opset)) {
        throw new UsageError(`--opset must be one of ${SUPPORTED_OPSETS.join(", ")}, got ${o.opset}`);
      }
      if (o.denoiser !== undefined && o.denoiser !== "raw" && o.denoiser !== "edm")
        throw new UsageError(`--denoiser must be raw or edm, got ${o.denoiser}`);
      if (!o.checkpoint && !o.randomWeights)
        throw new UsageError("give --checkpoint <weights>, or --random-weights");
      if (o.triton && o.out) throw new UsageError("give --out <file> or --triton <repo>, not both");
      const entry = loadOne(io, file, o.typecheck, o.variant);
      const serving = tritonServing(entry.name, o);
      const denoiser = o.denoiser ?? (serving ? defaultDenoiserForm(entry.spec) : "raw");
      const formProblem = denoiserFormProblem(entry.spec, denoiser);
      if (formProblem) throw new UsageError(formProblem);
      const graph = buildGraph(entry.spec);
      const weights = o.checkpoint ? loadWeights(o.checkpoint, graph).weights : undefined;
      const t0 = performance.now();
      const bar = new cliProgress.SingleBar(
        { format: "export |{bar}| {value}/{total} tensors", noTTYOutput: false },
        cliProgress.Presets.shades_classic,
      );
      let started = false;
      const options: ExportOptions = {
        opset: o.opset,
        fp16: o.fp16 ?? false,
        denoiser,
        ...(weights ? { weights } : { seed: o.seed }),
        onTensor: (done, total) => {
          if (!started && total > 200) {
            bar.start(total, 0);
            started = true;
          }
          if (started) bar.update(done);
        },
      };
      if (o.triton && serving) {
        const r = writeTritonRepository(entry, o.triton, { ...options, serving, log: io.err });
        if (started) bar.stop();
        reportTriton(io, r, { ...o, denoiser, seconds: (performance.now() - t0) / 1000 });
        setExit(EXIT.ok);
        return;
      }
      const r = exportOnnx(entry, o.out ?? "model.onnx", options);
      if (started) bar.stop();
      const seconds = (performance.now() - t0) / 1000;
      const peakRssBytes = process.resourceUsage().maxRSS * 1024;
      if (o.json) io.out(JSON.stringify({ ...r, seconds, peakRssBytes }, null, 2));
      else {
        const data = r.dataPath ? ` + ${r.dataPath} (external data)` : "";
        io.out(
          `✓ ${entry.name} → ${r.path}${data}: ${humanCount(r.weightBytes)}B of weights, opset ${o.opset}, ${denoiser} network, ${seconds.toFixed(1)} s`,
        );
      }
      setExit(EXIT.ok);
    });
  addTritonOptions(exportCommand);

  program
    .command("verify")
    .description(
      "run an exported file in onnxruntime and the tfjs model on the same random inputs (batch 1 and 3)",
    )
    .argument("<model>", "ONNX file exported by diffit (it carries its spec)")
    .requiredOption("--checkpoint <weights>", "the weights the file was exported from")
    .option(
      "--threshold <x>",
      "largest error allowed (default: 1e-4 absolute for float32 files, 2e-2 relative for float16)",
      positiveNumber("--threshold"),
    )
    .option("--backend <name>", `tfjs backend: ${BACKENDS.join(", ")}`)
    .option("--json", "print the result as JSON")
    .action(
      async (
        path: string,
        o: { checkpoint: string; threshold?: number; backend?: string; json?: boolean },
      ) => {
        const { spec, meta } = specFromOnnx(path);
        const graph = buildGraph(spec);
        const weights = loadWeights(o.checkpoint, graph).weights;
        const backend = await selectBackend(o.backend);
        io.err(describeBackend(backend));
        const exported = meta["diffit.weights_sha256"];
        const given = weightsDigest(graph.params, (name) => weights.get(name) ?? new Float32Array());
        if (exported !== undefined && exported !== given)
          io.err(
            `note: ${o.checkpoint} holds other weights than ${path} was exported from (weights digest ${given}, the file's ${exported}); a mismatch below is that, not the runtimes`,
          );
        const r = await verifyOnnx(path, weights, o.threshold);
        if (o.json)
          io.out(
            JSON.stringify(
              { rows: r.rows, threshold: r.threshold, measure: r.measure, passed: r.passed },
              null,
              2,
            ),
          );
        else {
          for (const row of r.rows) {
            io.out(
              `  batch ${row.batch}  ${row.output}: max abs error ${row.maxAbs.toExponential(2)}, max rel error ${row.maxRel.toExponential(2)}`,
            );
          }
          io.out(
            `${r.passed ? "✓" : "✗"} ${path} ${r.passed ? "matches" : "does not match"} tfjs (${r.measure} threshold ${r.threshold})`,
          );
        }
        setExit(r.passed ? EXIT.ok : EXIT.invalid);
      },
    );
}
