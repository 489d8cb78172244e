// The `--triton REPO` destination of `diffit export`: its options, their checks, and the report.
import { type Command, CommanderError } from "commander";
import { humanCount } from "../compiler/report.ts";
import { UsageError } from "../errors.ts";
import {
  type InstanceKind,
  TRITON_MODEL_NAME,
  type TritonServing,
  tritonModelName,
} from "../runtime/deploy/triton-config.ts";
import type { TritonExportResult } from "../runtime/deploy/triton-repository.ts";
import { EXIT, type Io, nonNegativeInt, positiveInt } from "./context.ts";

export interface TritonFlags {
  triton?: string;
  name?: string;
  maxBatchSize?: number;
  preferredBatchSize?: number[];
  maxQueueDelayUs?: number;
  instanceKind?: string;
  instances?: number;
}

export const TRITON_DEFAULTS = {
  maxBatchSize: 64,
  // Long enough for requests of concurrent samplers to meet, short against a denoiser step.
  maxQueueDelayMicroseconds: 100,
  instanceKind: "cpu" as InstanceKind,
  instanceCount: 1,
};

/** Triton keeps max_batch_size in an int32; far past any batch a denoiser runs at once. */
const MAX_BATCH_LIMIT = 1 << 20;

function batchSizeList(v: string): number[] {
  const sizes = v.split(",").map((s) => Number(s.trim()));
  if (v.trim() === "" || sizes.some((n) => !Number.isInteger(n) || n <= 0))
    throw new CommanderError(
      EXIT.usage,
      "diffit.number",
      `--preferred-batch-size must be positive integers separated by commas (e.g. 8,16), got ${v}`,
    );
  return sizes;
}

/** Adds the options of `--triton` (each only meaningful with it) to the export command. */
export function addTritonOptions(cmd: Command): Command {
  return cmd
    .option("--triton <repo>", "write a Triton model repository: <repo>/<name>/config.pbtxt and 1/model.onnx")
    .option("--name <name>", "the model's name in the repository (--triton; default: the spec's name)")
    .option(
      "--max-batch-size <n>",
      `largest batch Triton runs (--triton; default ${TRITON_DEFAULTS.maxBatchSize})`,
      positiveInt("--max-batch-size"),
    )
    .option(
      "--preferred-batch-size <list>",
      "batch sizes the dynamic batcher prefers, e.g. 16,32 (--triton; default: as large as it can form)",
      batchSizeList,
    )
    .option(
      "--max-queue-delay-us <n>",
      `microseconds a request waits for others to batch with (--triton; default ${TRITON_DEFAULTS.maxQueueDelayMicroseconds})`,
      nonNegativeInt("--max-queue-delay-us"),
    )
    .option("--instance-kind <kind>", "cpu or gpu: where Triton runs the model (--triton; default cpu)")
    .option(
      "--instances <n>",
      "model instances Triton runs (--triton; default 1)",
      positiveInt("--instances"),
    );
}

/** The serving settings of `--triton`, or undefined without it (and its options refused then). */
export function tritonServing(specName: string, f: TritonFlags): TritonServing | undefined {
  if (!f.triton) {
    const stray = (
      [
        ["--name", f.name],
        ["--max-batch-size", f.maxBatchSize],
        ["--preferred-batch-size", f.preferredBatchSize],
        ["--max-queue-delay-us", f.maxQueueDelayUs],
        ["--instance-kind", f.instanceKind],
        ["--instances", f.instances],
      ] as const
    ).find(([, v]) => v !== undefined);
    if (stray) throw new UsageError(`${stray[0]} configures a Triton model: give it with --triton <repo>`);
    return undefined;
  }
  const name = f.name ?? tritonModelName(specName);
  if (!TRITON_MODEL_NAME.test(name) || name.length > 200)
    throw new UsageError(
      `--name ${JSON.stringify(name)} cannot name a model folder and URL: use letters, digits, _ . and - (not first), e.g. ${tritonModelName(name)}`,
    );
  const maxBatchSize = f.maxBatchSize ?? TRITON_DEFAULTS.maxBatchSize;
  if (maxBatchSize > MAX_BATCH_LIMIT)
    throw new UsageError(`--max-batch-size must be at most ${MAX_BATCH_LIMIT}, got ${maxBatchSize}`);
  const preferred = f.preferredBatchSize ?? [];
  const tooLarge = preferred.find((n) => n > maxBatchSize);
  if (tooLarge !== undefined)
    throw new UsageError(
      `--preferred-batch-size ${tooLarge} is larger than --max-batch-size ${maxBatchSize}: Triton never forms such a batch`,
    );
  const kind = f.instanceKind ?? TRITON_DEFAULTS.instanceKind;
  if (kind !== "cpu" && kind !== "gpu")
    throw new UsageError(`--instance-kind must be cpu or gpu, got ${kind}`);
  return {
    name,
    maxBatchSize,
    preferredBatchSizes: [...new Set(preferred)].sort((a, b) => a - b),
    maxQueueDelayMicroseconds: f.maxQueueDelayUs ?? TRITON_DEFAULTS.maxQueueDelayMicroseconds,
    instanceKind: kind,
    instanceCount: f.instances ?? TRITON_DEFAULTS.instanceCount,
  };
}

/** One line for people, or the result as JSON. */
export function reportTriton(
  io: Io,
  r: TritonExportResult,
  o: { json?: boolean; opset: number; denoiser: string; seconds: number },
): void {
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  if (o.json) {
    io.out(JSON.stringify({ ...r, seconds: o.seconds, peakRssBytes }, null, 2));
    return;
  }
  const data = r.dataPath ? " (weights as external data beside it)" : "";
  const form = o.denoiser === "edm" ? "EDM denoiser D(x; sigma)" : "raw network";
  io.out(
    `✓ Triton model ${r.name} → ${r.configPath}, ${r.modelPath}${data}: ${humanCount(r.weightBytes)}B of weights, opset ${o.opset}, ${form}, max batch ${r.config.maxBatchSize}, ${o.seconds.toFixed(1)} s`,
  );
  io.out(`  serve it: tritonserver --model-repository=${r.repo}`);
}
