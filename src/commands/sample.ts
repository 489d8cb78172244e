// `diffit sample`: class-conditional or unconditional samples as a PNG grid, on the tfjs engine or
// on ONNX Runtime (the default for exported models and EDM checkpoints: ~4× faster on CPU).
import type { Command } from "commander";
import { buildGraph } from "../compiler/ir/build.ts";
import type { ResolvedSpec } from "../compiler/resolve-defaults.ts";
import { InputError, UsageError } from "../errors.ts";
import { BACKENDS, describeBackend, selectBackend } from "../runtime/backend.ts";
import { loadWeights } from "../runtime/checkpoint/model-checkpoint.ts";
import type { Network } from "../runtime/diffusion/edm.ts";
import { imageGrid, writePng } from "../runtime/images/png.ts";
import { withTemporaryExport } from "../runtime/onnx/export-model.ts";
import { onnxSamples, sampleWithOnnx } from "../runtime/onnx/onnx-sampler.ts";
import { checkVaeDecoder, decodeLatents } from "../runtime/onnx/vae-decoder.ts";
import { specFromOnnx } from "../runtime/onnx/verify.ts";
import { sampleImages } from "../runtime/sampling/sample.ts";
import { TfjsModel } from "../runtime/tfjs/model.ts";
import { progressBar } from "../runtime/training/reporting.ts";
import {
  type CommandContext,
  EXIT,
  loadOne,
  nonNegativeInt,
  nonNegativeNumber,
  positiveInt,
} from "./context.ts";

interface SampleFlags {
  checkpoint?: string;
  model?: string;
  engine?: string;
  out: string;
  perClass: number;
  n?: number;
  steps?: number;
  sampler?: string;
  guidance?: number;
  classes?: string;
  seed: number;
  variant?: string;
  backend?: string;
  vaeDecoder?: string;
  json?: boolean;
  typecheck: boolean;
}

export interface SampleOutcome {
  images: Float32Array;
  count: number;
  nfe: number;
  seconds: number;
  engine: "tfjs" | "onnx";
}

export interface SampleJob {
  spec: ResolvedSpec;
  labels?: number[];
  count: number;
  steps: number;
  sampler: string;
  seed: number;
  guidanceScale?: number;
  onStep?: (step: number, total: number) => void;
}

/** The spec's guidance with the job's scale override. */
function guidanceOf(job: SampleJob) {
  return {
    ...job.spec.sampling.guidance,
    ...(job.guidanceScale !== undefined ? { scale: job.guidanceScale } : {}),
  };
}

/** Samples on ONNX Runtime from an exported file. */
export async function sampleOnnxJob(model: string, job: SampleJob): Promise<SampleOutcome> {
  const t0 = performance.now();
  if (job.sampler !== "heun" && job.sampler !== "euler")
    throw new UsageError(`the ONNX engine runs heun or euler, not ${job.sampler}`);
  const guidance = guidanceOf(job);
  const r = await sampleWithOnnx(model, job.spec, job.count, {
    sampler: job.sampler,
    steps: job.steps,
    seed: job.seed,
    guidance,
    ...(job.labels ? { labels: job.labels } : {}),
    ...(job.onStep ? { onStep: job.onStep } : {}),
  });
  return {
    images: r.images,
    count: job.count,
    nfe: r.nfe,
    seconds: (performance.now() - t0) / 1000,
    engine: "onnx",
  };
}

/** Samples on tfjs from weights. */
export function sampleTfjsJob(weights: Map<string, Float32Array>, job: SampleJob): SampleOutcome {
  const t0 = performance.now();
  const model = TfjsModel.fromWeights(buildGraph(job.spec), weights);
  try {
    const net: Network = (x, t, y) => model.forward({ x, t, y }, { release: true });
    const guidance = guidanceOf(job);
    const { images, nfe } = sampleImages(job.spec, net, {
      count: job.count,
      ...(job.labels ? { labels: job.labels } : {}),
      steps: job.steps,
      sampler: job.sampler,
      seed: job.seed,
      guidance,
      ...(job.onStep ? { onStep: job.onStep } : {}),
    });
    const values = images.dataSync() as Float32Array;
    images.dispose();
    return {
      images: values,
      count: job.count,
      nfe,
      seconds: (performance.now() - t0) / 1000,
      engine: "tfjs",
    };
  } finally {
    model.dispose();
  }
}

/**
 * Finite weights can still overflow to NaN or ±Inf while sampling (weights of another scale, a
 * guidance scale far too large): a grid of them is no picture, so nothing is written.
 */
function refuseNonFinite(outcome: SampleOutcome, source: string): void {
  let bad = 0;
  for (const v of outcome.images) if (!Number.isFinite(v)) bad++;
  if (bad > 0)
    throw new InputError(
      `sampling ${source} gave ${bad} NaN or infinite value(s) of ${outcome.images.length}; no grid written. The weights overflow in this sampler: check that they belong to this spec, or try fewer --steps or a smaller --guidance`,
    );
}

export function registerSample(program: Command, { io, setExit }: CommandContext): void {
  program
    .command("sample")
    .description(
      "sample images into a PNG grid (EDM Heun/Euler, DDPM/DDIM; classifier-free guidance), on tfjs or ONNX Runtime",
    )
    .argument("[spec]", "spec file (not needed with --model: an exported file carries its spec)")
    .option("--checkpoint <weights>", "weights of the spec (.safetensors, e.g. <train out>/ema.safetensors)")
    .option("--model <onnx>", "an ONNX file exported by diffit (implies --engine onnx)")
    .option(
      "--engine <name>",
      "onnx (onnxruntime-node; the default for --model and for EDM specs, exported on the fly) or tfjs",
    )
    .option("-o, --out <png>", "output grid", "out/samples.png")
    .option(
      "--per-class <n>",
      "samples per class, one row per class (conditional models)",
      positiveInt("--per-class"),
      8,
    )
    .option("-n <n>", "number of samples (unconditional models)", positiveInt("-n"))
    .option("--classes <list>", "comma-separated class indices (default: all)")
    .option("--steps <n>", "sampler steps (default: sampling.steps of the spec)", positiveInt("--steps"))
    .option(
      "--sampler <name>",
      "heun or euler (EDM specs), ddpm or ddim (DDPM specs); default: sampling.sampler",
    )
    .option(
      "--guidance <scale>",
      "classifier-free guidance scale (default: sampling.guidance.scale)",
      nonNegativeNumber("--guidance"),
    )
    .option("--seed <n>", "noise seed", nonNegativeInt("--seed"), 0)
    .option("--variant <name>", "the variant, for specs with variants")
    .option("--backend <name>", `tfjs backend: ${BACKENDS.join(", ")}`)
    .option(
      "--vae-decoder <onnx>",
      "latent specs: decode the latents (÷ 0.18215) with this VAE decoder ONNX file before writing the grid",
    )
    .option("--json", "print a JSON summary")
    .option("--no-typecheck", "skip the TypeScript checker on .ts specs")
    .action(async (file: string | undefined, o: SampleFlags) => {
      if (o.engine !== undefined && o.engine !== "tfjs" && o.engine !== "onnx")
        throw new UsageError(`--engine must be tfjs or onnx, got ${o.engine}`);
      if (!o.model && !o.checkpoint)
        throw new UsageError("give --checkpoint <weights> (with a spec) or --model <exported.onnx>");
      if (o.model && o.engine === "tfjs")
        throw new UsageError("--model runs on the onnx engine; use --checkpoint for tfjs");
      if (!o.model && !file) throw new UsageError("a spec file is needed with --checkpoint");
      const entry = o.model ? undefined : loadOne(io, file ?? "", o.typecheck, o.variant);
      const spec = entry?.spec ?? specFromOnnx(o.model ?? "").spec;
      if (o.vaeDecoder && spec.family !== "latent")
        throw new UsageError(`--vae-decoder decodes latents; ${spec.name} is an image-space spec`);
      const classes = spec.conditioning.classes;
      if (classes > 0 && o.n !== undefined)
        throw new UsageError(
          `-n counts samples of unconditional models; ${spec.name} is class-conditional: give --per-class N (and --classes to choose rows)`,
        );
      if (classes === 0 && o.classes !== undefined)
        throw new UsageError(
          `--classes picks rows of class-conditional models; ${spec.name} is unconditional`,
        );
      const chosen = o.classes
        ? o.classes.split(",").map((c) => {
            const k = Number(c);
            if (!Number.isInteger(k) || k < 0 || k >= classes)
              throw new UsageError(`--classes: ${c} is not a class index 0..${classes - 1}`);
            return k;
          })
        : Array.from({ length: classes }, (_, i) => i);
      const labels = classes > 0 ? chosen.flatMap((k) => new Array<number>(o.perClass).fill(k)) : undefined;
      // Every input is read and checked before any sampling work: the weights (names, shapes,
      // finite values) and the decoder's inputs and outputs.
      const weights = entry ? loadWeights(o.checkpoint ?? "", buildGraph(spec)).weights : undefined;
      if (o.vaeDecoder) checkVaeDecoder(o.vaeDecoder, spec.input.channels, spec.input.size, spec.input.size);
      const job: SampleJob = {
        spec,
        ...(labels ? { labels } : {}),
        count: labels?.length ?? o.n ?? 16,
        steps: o.steps ?? spec.sampling.steps,
        sampler: o.sampler ?? spec.sampling.sampler,
        seed: o.seed,
        ...(o.guidance !== undefined ? { guidanceScale: o.guidance } : {}),
      };
      // ONNX Runtime samples ~4× faster than tfjs wasm (bench): the default wherever it applies.
      const engine = o.engine ?? (!entry || onnxSamples(spec, job.sampler) ? "onnx" : "tfjs");
      const bar = progressBar(job.steps, 0, !o.json, `sample (${engine})`, false);
      const started = performance.now();
      job.onStep = (step) => bar.update(step, Number.NaN, step / ((performance.now() - started) / 1000));
      let outcome: SampleOutcome;
      try {
        if (engine === "onnx") {
          outcome =
            entry && weights
              ? // Exported on the fly from the checkpoint.
                await withTemporaryExport(entry, weights, (path) => sampleOnnxJob(path, job))
              : await sampleOnnxJob(o.model ?? "", job);
        } else {
          const backend = await selectBackend(o.backend);
          io.err(describeBackend(backend));
          if (!weights) throw new UsageError("the tfjs engine samples from --checkpoint weights");
          outcome = sampleTfjsJob(weights, job);
        }
      } finally {
        bar.stop();
      }
      refuseNonFinite(outcome, o.checkpoint ?? o.model ?? "");
      const { size, channels } = spec.input;
      // Latents without a decoder are shown as they are: channels 0-2 as RGB, a preview only.
      const pictures = o.vaeDecoder
        ? await decodeLatents(o.vaeDecoder, outcome.images, outcome.count, size, size, channels)
        : { images: outcome.images, height: size, width: size, channels };
      if (spec.family === "latent" && !o.vaeDecoder)
        io.err("note: the grid shows latent channels 0-2; give --vae-decoder VAE.onnx to decode images");
      writePng(
        o.out,
        imageGrid(
          pictures.images,
          outcome.count,
          pictures.height,
          pictures.width,
          pictures.channels,
          labels ? o.perClass : Math.ceil(Math.sqrt(outcome.count)),
        ),
      );
      const info = {
        out: o.out,
        engine: outcome.engine,
        samples: outcome.count,
        decoded: o.vaeDecoder !== undefined,
        steps: job.steps,
        nfe: outcome.nfe,
        seconds: outcome.seconds,
        samplesPerSecond: outcome.count / outcome.seconds,
      };
      if (o.json) io.out(JSON.stringify(info, null, 2));
      else
        io.out(
          `✓ ${outcome.count} samples on ${outcome.engine} (${job.sampler}, ${job.steps} steps, NFE ${outcome.nfe}) in ${outcome.seconds.toFixed(1)} s → ${o.out}`,
        );
      setExit(EXIT.ok);
    });
}
