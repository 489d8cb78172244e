// `diffit sample`: class-conditional or unconditional samples from trained weights, as a grid.
import type { Command } from "commander";
import { buildGraph } from "../compiler/ir/build.ts";
import { UsageError } from "../errors.ts";
import { BACKENDS, describeBackend, selectBackend } from "../runtime/backend.ts";
import { loadWeights } from "../runtime/checkpoint/model-checkpoint.ts";
import type { Network } from "../runtime/diffusion/edm.ts";
import { imageGrid, writePng } from "../runtime/images/png.ts";
import { sampleImages } from "../runtime/sampling/sample.ts";
import { TfjsModel } from "../runtime/tfjs/model.ts";
import {
  type CommandContext,
  EXIT,
  loadOne,
  nonNegativeInt,
  nonNegativeNumber,
  positiveInt,
} from "./context.ts";

interface SampleFlags {
  checkpoint: string;
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
  json?: boolean;
  typecheck: boolean;
}

export function registerSample(program: Command, { io, setExit }: CommandContext): void {
  program
    .command("sample")
    .description(
      "sample images from trained weights (EDM Heun/Euler, classifier-free guidance) into a PNG grid",
    )
    .argument("<spec>", "spec file")
    .requiredOption(
      "--checkpoint <weights>",
      "weights of this spec (.safetensors, e.g. <train out>/ema.safetensors)",
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
    .option("--json", "print a JSON summary")
    .option("--no-typecheck", "skip the TypeScript checker on .ts specs")
    .action(async (file: string, o: SampleFlags) => {
      const entry = loadOne(io, file, o.typecheck, o.variant);
      const spec = entry.spec;
      const sampler = o.sampler ?? spec.sampling.sampler;
      const backend = await selectBackend(o.backend);
      io.err(describeBackend(backend));
      const graph = buildGraph(spec);
      const model = TfjsModel.fromWeights(graph, loadWeights(o.checkpoint, graph).weights);
      const classes = spec.conditioning.classes;
      const chosen = o.classes
        ? o.classes.split(",").map((c) => {
            const k = Number(c);
            if (!Number.isInteger(k) || k < 0 || k >= classes)
              throw new UsageError(`--classes: ${c} is not a class index 0..${classes - 1}`);
            return k;
          })
        : Array.from({ length: classes }, (_, i) => i);
      const labels = classes > 0 ? chosen.flatMap((k) => new Array<number>(o.perClass).fill(k)) : undefined;
      const n = labels?.length ?? o.n ?? 16;
      const steps = o.steps ?? spec.sampling.steps;
      const t0 = performance.now();
      const net: Network = (x, t, y) => model.forward({ x, t, y }, { release: true });
      const { size, channels } = spec.input;
      const { images, nfe } = sampleImages(spec, net, {
        count: n,
        ...(labels ? { labels } : {}),
        steps,
        sampler,
        seed: o.seed,
        guidance: { ...spec.sampling.guidance, ...(o.guidance !== undefined ? { scale: o.guidance } : {}) },
      });
      const values = images.dataSync() as Float32Array;
      images.dispose();
      model.dispose();
      const seconds = (performance.now() - t0) / 1000;
      writePng(
        o.out,
        imageGrid(values, n, size, size, channels, labels ? o.perClass : Math.ceil(Math.sqrt(n))),
      );
      const info = {
        out: o.out,
        samples: n,
        steps,
        nfe,
        seconds,
        samplesPerSecond: n / seconds,
        backend: backend.name,
      };
      if (o.json) io.out(JSON.stringify(info, null, 2));
      else
        io.out(
          `✓ ${n} samples (${sampler}, ${steps} steps, NFE ${nfe}) in ${seconds.toFixed(1)} s → ${o.out}`,
        );
      setExit(EXIT.ok);
    });
}
