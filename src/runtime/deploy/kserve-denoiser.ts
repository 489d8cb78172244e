// A denoiser served over the KServe v2 protocol (Triton, or any v2 server) as the sampler core
// calls it: a batch of images [N, C, H, W] and noise levels [N] (and class labels [N]) in, the
// model's output [N, C, H, W] out. Connecting reads the model's metadata once, so the adapter
// knows the image shape, whether the model is the EDM denoiser (input sigma) or the raw network
// (input t), and whether per-sample values travel as [N] or [N, 1] (Triton's dims [1] with a
// reshape to []). Node-free.
import {
  KserveError,
  type KserveTarget,
  type KserveTensor,
  type KserveTensorInfo,
  kserveInfer,
  kserveMetadata,
} from "./kserve-client.ts";

export interface RemoteDenoiserInfo {
  /** sigma: the EDM denoiser D(x; sigma); t: the raw network F(x; t). */
  noiseInput: "sigma" | "t";
  conditional: boolean;
  /** [C, H, W] of x and of the output. */
  inputShape: [number, number, number];
  outputShape: [number, number, number];
}

export interface RemoteDenoiser {
  readonly info: RemoteDenoiserInfo;
  /** The model on a batch: x [N, C, H, W], sigma or t [N], labels [N] for conditional models. */
  denoise(
    x: Float32Array,
    noise: Float32Array,
    labels?: Int32Array | readonly number[],
  ): Promise<Float32Array>;
}

export interface KserveDenoiserOptions extends KserveTarget {
  /** Batches above this many samples go as several concurrent requests (Triton's max_batch_size). */
  maxBatch?: number;
}

interface Layout extends RemoteDenoiserInfo {
  /** The dims after the batch dimension of the noise input and of y: [] or [1]. */
  noiseTail: number[];
  labelTail: number[];
  labelType: string;
}

const shapeText = (s: readonly number[]) => `[${s.join(", ")}]`;

/** The layout the metadata describes, or what keeps it from being a diffit denoiser. */
function layoutOf(inputs: KserveTensorInfo[], outputs: KserveTensorInfo[]): Layout | string {
  const byName = new Map(inputs.map((i) => [i.name, i]));
  const x = byName.get("x");
  const noises = ["sigma", "t"].filter((n) => byName.has(n)) as ("sigma" | "t")[];
  const noiseName = noises[0];
  const noise = noiseName ? byName.get(noiseName) : undefined;
  const y = byName.get("y");
  const out = outputs.find((o) => o.name === "out");
  const image = (v: KserveTensorInfo | undefined) =>
    v?.datatype === "FP32" &&
    v.shape.length === 4 &&
    v.shape[0] === -1 &&
    v.shape.slice(1).every((d) => d > 0);
  const perSample = (v: KserveTensorInfo) =>
    v.shape[0] === -1 && (v.shape.length === 1 || shapeText(v.shape) === "[-1, 1]");
  const others = inputs.filter((i) => !["x", "sigma", "t", "y"].includes(i.name));
  if (!x || !image(x)) return "an input x, FP32 [-1, C, H, W] (-1: the batch)";
  if (!noise || noises.length > 1 || noise.datatype !== "FP32" || !perSample(noise))
    return "one noise input, sigma or t, FP32 [-1, 1] or [-1]";
  if (y && !(perSample(y) && (y.datatype === "INT64" || y.datatype === "INT32")))
    return "class labels y, INT64 [-1, 1] or [-1]";
  if (others.length > 0)
    return `no inputs besides x, ${noiseName} and y (it has ${others.map((o) => o.name).join(", ")})`;
  if (!out || !image(out)) return "an output out, FP32 [-1, C, H, W]";
  const tail = (v: KserveTensorInfo) => v.shape.slice(1);
  return {
    noiseInput: noiseName as "sigma" | "t",
    conditional: y !== undefined,
    inputShape: tail(x) as [number, number, number],
    outputShape: tail(out) as [number, number, number],
    noiseTail: tail(noise),
    labelTail: y ? tail(y) : [],
    labelType: y?.datatype ?? "INT64",
  };
}

const product = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Reads the model's metadata and returns the denoiser it serves; a KserveError if it is none. */
export async function connectKserveDenoiser(o: KserveDenoiserOptions): Promise<RemoteDenoiser> {
  const meta = await kserveMetadata(o);
  const found = layoutOf(meta.inputs, meta.outputs);
  if (typeof found === "string") {
    const has = [...meta.inputs, ...meta.outputs].map((v) => `${v.name} ${v.datatype} ${shapeText(v.shape)}`);
    throw new KserveError(
      `the model ${o.model} at ${o.url} is not a denoiser diffit exported: it needs ${found}; it has ${has.join(", ")}. Export it with diffit export --triton (max_batch_size ≥ 1)`,
    );
  }
  const layout: Layout = found;
  const per = product(layout.inputShape);
  const perOut = product(layout.outputShape);

  async function run(
    x: Float32Array,
    noise: Float32Array,
    labels: readonly number[] | undefined,
  ): Promise<Float32Array> {
    const n = noise.length;
    const inputs: KserveTensor[] = [
      { name: "x", datatype: "FP32", shape: [n, ...layout.inputShape], data: Array.from(x) },
      { name: layout.noiseInput, datatype: "FP32", shape: [n, ...layout.noiseTail], data: Array.from(noise) },
    ];
    if (labels)
      inputs.push({
        name: "y",
        datatype: layout.labelType,
        shape: [n, ...layout.labelTail],
        data: [...labels],
      });
    const out = (await kserveInfer(o, inputs, ["out"])).get("out");
    const want = [n, ...layout.outputShape];
    if (
      out?.datatype !== "FP32" ||
      shapeText(out.shape) !== shapeText(want) ||
      out.data.length !== n * perOut
    )
      throw new KserveError(
        `the model ${o.model} at ${o.url} answered out as ${out?.datatype} ${shapeText(out?.shape ?? [])} with ${out?.data.length} values, expected FP32 ${shapeText(want)}; is the server's model the one diffit exported?`,
      );
    return Float32Array.from(out.data);
  }

  return {
    info: {
      noiseInput: layout.noiseInput,
      conditional: layout.conditional,
      inputShape: layout.inputShape,
      outputShape: layout.outputShape,
    },
    async denoise(x, noise, labels) {
      const n = noise.length;
      if (x.length !== n * per)
        throw new RangeError(
          `x has ${x.length} values; ${n} noise levels need ${n} × ${shapeText(layout.inputShape)} = ${n * per}`,
        );
      if (layout.conditional && labels?.length !== n)
        throw new RangeError(
          `the model ${o.model} is class-conditional: give ${n} labels (the null class for unconditional samples), got ${labels?.length ?? "none"}`,
        );
      if (!layout.conditional && labels !== undefined)
        throw new RangeError(`the model ${o.model} takes no class labels`);
      if (n === 0) return new Float32Array(0);
      const step = Math.max(1, Math.floor(o.maxBatch ?? n));
      const parts: Promise<Float32Array>[] = [];
      for (let i = 0; i < n; i += step) {
        const m = Math.min(step, n - i);
        parts.push(
          run(
            x.subarray(i * per, (i + m) * per),
            noise.subarray(i, i + m),
            labels ? Array.from(labels).slice(i, i + m) : undefined,
          ),
        );
      }
      const out = new Float32Array(n * perOut);
      for (const [k, p] of (await Promise.all(parts)).entries()) out.set(p, k * step * perOut);
      return out;
    },
  };
}
