// `diffit eval`: sample quality of a class-conditional Fashion-MNIST model — the fraction of
// samples a classifier assigns to their conditioning label, and FID/KID on the classifier's
// penultimate features (or a user's ONNX feature network) against real test images.
import type { Command } from "commander";
import { buildGraph } from "../compiler/ir/build.ts";
import { InputError, UsageError } from "../errors.ts";
import { describeBackend, selectBackend } from "../runtime/backend.ts";
import { loadWeights } from "../runtime/checkpoint/model-checkpoint.ts";
import { classRows, evaluateModel, notEvaluable } from "../runtime/eval/evaluate.ts";
import { imageGrid, writePng } from "../runtime/images/png.ts";
import { withTemporaryExport } from "../runtime/onnx/export-model.ts";
import { checkSignature, DataType, readOnnxFile } from "../runtime/onnx/model-file.ts";
import { specFromOnnx } from "../runtime/onnx/verify.ts";
import {
  type CommandContext,
  EXIT,
  loadOne,
  nonNegativeInt,
  nonNegativeNumber,
  positiveInt,
} from "./context.ts";
import { DEFAULT_DATA } from "./train.ts";

interface EvalFlags {
  checkpoint?: string;
  model?: string;
  n: number;
  steps?: number;
  guidance?: number;
  seed: number;
  data: string;
  cache: string;
  features?: string;
  grid?: string;
  chunk: number;
  variant?: string;
  backend?: string;
  json?: boolean;
  typecheck: boolean;
}

export function registerEval(program: Command, { io, setExit }: CommandContext): void {
  program
    .command("eval")
    .description(
      "class-conditional accuracy, FID and KID of a Fashion-MNIST model's samples (classifier trained once, cached)",
    )
    .argument("[spec]", "spec file (not needed with --model)")
    .option("--checkpoint <weights>", "weights of the spec (.safetensors)")
    .option("--model <onnx>", "an ONNX file exported by diffit")
    .option(
      "-n <n>",
      "generated samples (class-balanced); also the number of real test images",
      positiveInt("-n"),
      1000,
    )
    .option("--steps <n>", "Heun steps (default: sampling.steps of the spec)", positiveInt("--steps"))
    .option("--guidance <scale>", "guidance scale (default: the spec's)", nonNegativeNumber("--guidance"))
    .option("--seed <n>", "sampling seed", nonNegativeInt("--seed"), 0)
    .option(
      "--data <dir>",
      "Fashion-MNIST IDX folder: classifier training and real test images",
      DEFAULT_DATA,
    )
    .option("--cache <dir>", "where the trained classifier is kept", "out/cache")
    .option(
      "--features <onnx>",
      "a feature network for FID/KID instead of the classifier (input [N,1,32,32] in [-1,1])",
    )
    .option("--grid <png>", "also write the first 10 samples of each class as a grid")
    .option("--chunk <n>", "samples per sampling call", positiveInt("--chunk"), 100)
    .option("--variant <name>", "the variant, for specs with variants")
    .option("--backend <name>", "tfjs backend for the classifier")
    .option("--json", "print the result as JSON")
    .option("--no-typecheck", "skip the TypeScript checker on .ts specs")
    .action(async (file: string | undefined, o: EvalFlags) => {
      if (!o.model && !(file && o.checkpoint))
        throw new UsageError("give a spec and --checkpoint, or --model <exported.onnx>");
      const entry = o.model ? undefined : loadOne(io, file ?? "", o.typecheck, o.variant);
      const spec = entry ? entry.spec : specFromOnnx(o.model ?? "").spec;
      const why = notEvaluable(spec);
      if (why) throw new InputError(why);
      if (o.features)
        checkSignature(
          readOnnxFile(o.features, "feature network"),
          [{ elemType: DataType.FLOAT, dims: ["N", 1, 32, 32] }],
          [{ elemType: DataType.FLOAT }],
          "a feature network of [N, 1, 32, 32] images",
          "give an ONNX network that maps [N, 1, 32, 32] images in [-1, 1] to [N, D] float features",
          true,
        );
      // The weights are read and checked before the backend starts or anything is sampled.
      const weights = entry ? loadWeights(o.checkpoint ?? "", buildGraph(spec)).weights : undefined;
      const backend = await selectBackend(o.backend);
      io.err(describeBackend(backend));
      const evaluate = (model: string) =>
        evaluateModel({
          model,
          spec,
          n: o.n,
          steps: o.steps ?? spec.sampling.steps,
          ...(o.guidance !== undefined ? { guidance: o.guidance } : {}),
          seed: o.seed,
          data: o.data,
          cache: o.cache,
          ...(o.features ? { features: o.features } : {}),
          chunk: o.chunk,
          log: io.err,
        });
      // A checkpoint is evaluated through a temporary EDM-denoiser export, removed afterwards.
      const { images, ...result } =
        entry && weights
          ? await withTemporaryExport(entry, weights, evaluate, "edm")
          : await evaluate(o.model ?? "");
      if (o.grid) {
        const rows = classRows(images, o.n);
        writePng(o.grid, imageGrid(rows.images, rows.count, 32, 32, 1, 10));
      }
      if (o.json) io.out(JSON.stringify(result, null, 2));
      else {
        io.out(
          [
            `class-conditional accuracy  ${(result.classAccuracy * 100).toFixed(1)} % of ${o.n} samples (Heun ${result.steps} steps, NFE ${result.nfe}, guidance ${result.guidance})`,
            `per class                   ${result.perClass.map((c) => `${c.label}:${(c.accuracy * 100).toFixed(0)}%`).join(" ")}`,
            `FID                         ${result.fid.toFixed(3)} (${result.features}, vs ${result.realImages} test images)`,
            `KID                         ${formatKid(result.kid, result.samples, result.realImages)}`,
            `sampling                    ${result.samplingSeconds.toFixed(0)} s on ONNX Runtime`,
          ].join("\n"),
        );
      }
      setExit(EXIT.ok);
    });
}

/**
 * A subset as large as both sets is the sets themselves, so every "random" subset is the same
 * and the spread is 0 by construction: say so rather than print "± 0".
 */
export function formatKid(
  k: { mean: number; std: number; subsets: number; subsetSize: number },
  samples: number,
  real: number,
): string {
  if (k.subsetSize >= samples && k.subsetSize >= real)
    return `${k.mean.toFixed(5)} (one subset: all ${k.subsetSize} samples and real images, so no spread)`;
  return `${k.mean.toFixed(5)} ± ${k.std.toFixed(5)} (${k.subsets} subsets of ${k.subsetSize})`;
}
