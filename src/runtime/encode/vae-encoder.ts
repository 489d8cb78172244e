// A user-supplied VAE encoder in ONNX (SD-VAE's, exported by optimum or diffusers): images
// [N, 3, H, W] in [−1, 1] in, latents of [N, c, h, w] out, in one of three conventions:
//  - "mean-logvar": two outputs, the mean and log-variance of a diagonal Gaussian (the one named
//    like *logvar* / *log_var* is the log-variance, else the second);
//  - "moments": one output of 2c channels, the mean then the log-variance (SD-VAE's quant_conv
//    output, diffusers' latent_dist.parameters, optimum's latent_parameters);
//  - "direct": one output of c channels, latents as they are (optimum's older latent_sample,
//    which sampled inside the graph, or a plain autoencoder).
// The file's declared shapes are checked before any image is read, and a probe run on a blank
// batch checks the shapes it really returns (exporters often leave them symbolic).
import { InputError } from "../../errors.ts";
import type { LatentTarget } from "../data/latent-dataset.ts";
import { DataType, type Dim, type OnnxValue, readOnnxFile } from "../onnx/model-file.ts";
import { openSession, ort } from "../onnx/session.ts";

export type EncoderKind = "mean-logvar" | "moments" | "direct";

/** The latents a spec takes, for checks and messages. */
type LatentShape = Pick<LatentTarget, "name" | "channels" | "size">;

export interface EncoderOutput {
  /** [n, c, h, w]: the mean, or the latents of a "direct" encoder. */
  mean: Float32Array;
  /** [n, c, h, w], for encoders that return a distribution. */
  logvar?: Float32Array;
}

export interface VaeEncoder {
  kind: EncoderKind;
  /** Channels of the images it takes (1 or 3). */
  imageChannels: number;
  /** Encodes `n` images [n, imageChannels, S, S] (channels first). */
  encode(images: Float32Array, n: number): Promise<EncoderOutput>;
  release(): Promise<void>;
}

const shape = (dims: readonly (Dim | "N")[]) => `[${dims.map((d) => d ?? "?").join(", ")}]`;
const num = (d: Dim | undefined) => (typeof d === "number" ? d : undefined);

/** Fixes for a wrong encoder, shared by the checks. */
function fixFor(t: LatentShape, imageSize: number): string {
  return `give the encoder of the VAE whose latents spec ${t.name} takes ([N, ${t.channels}, ${t.size}, ${t.size}] for ${imageSize}-pixel images; SD-VAE's encoder, exported to ONNX, downsamples by 8), or set --image-size`;
}

/** What the file declares: one float image input, one or two float outputs; numeric sizes checked. */
function checkDeclared(path: string, t: LatentShape, imageSize: number) {
  const file = readOnnxFile(path, "VAE encoder");
  const fix = fixFor(t, imageSize);
  const [input] = file.inputs;
  const rank4 = (v: OnnxValue) =>
    v.elemType === DataType.FLOAT && (v.dims === undefined || v.dims.length === 4);
  if (file.inputs.length !== 1 || !input || !rank4(input))
    throw new InputError(
      `${path}: a VAE encoder takes one float input of [N, 3, H, W] images; this one takes ${file.inputs.map((v) => `${v.name} ${shape(v.dims ?? [])}`).join(", ") || "nothing"}; ${fix}`,
    );
  const [n, c, h, w] = input.dims ?? [];
  if (num(c) !== undefined && c !== 1 && c !== 3)
    throw new InputError(
      `${path}: its input ${input.name} takes ${c}-channel images; images have 1 or 3; ${fix}`,
    );
  for (const side of [h, w])
    if (num(side) !== undefined && side !== imageSize)
      throw new InputError(
        `${path} takes ${shape(input.dims ?? [])} images, not ${imageSize}×${imageSize} (--image-size); ${fix}`,
      );
  const outputs = file.outputs;
  if (outputs.length < 1 || outputs.length > 2 || !outputs.every(rank4))
    throw new InputError(
      `${path}: a VAE encoder returns one float [N, 2c, h, w] output (mean and log-variance) or two [N, c, h, w] ones, or one [N, c, h, w] of latents; this one returns ${outputs.map((v) => `${v.name} ${shape(v.dims ?? [])}`).join(", ") || "nothing"}; ${fix}`,
    );
  for (const o of outputs) {
    const [, oc, oh, ow] = o.dims ?? [];
    const channelsFit =
      num(oc) === undefined || oc === t.channels || (outputs.length === 1 && oc === 2 * t.channels);
    if (!channelsFit || (num(oh) ?? t.size) !== t.size || (num(ow) ?? t.size) !== t.size)
      throw new InputError(
        `${path} returns ${o.name} ${shape(o.dims ?? [])}, but spec ${t.name} takes [N, ${t.channels}, ${t.size}, ${t.size}] latents${outputs.length === 1 ? ` (or [N, ${2 * t.channels}, ${t.size}, ${t.size}] mean and log-variance)` : ""}; ${fix}`,
      );
  }
  return {
    input: input.name,
    imageChannels: num(c) ?? 3,
    batch: num(n),
    outputs: outputs.map((o) => o.name),
  };
}

/** Opens the encoder, checks it, and runs it once on blank images to learn what it returns. */
export async function openVaeEncoder(path: string, t: LatentShape, imageSize: number): Promise<VaeEncoder> {
  const declared = checkDeclared(path, t, imageSize);
  const session = await openSession(path, "VAE encoder");
  const names = declared.outputs;
  // Of two outputs, the one named like a log-variance is it; else the second.
  const named = names.findIndex((n) => /log_?var/i.test(n));
  const logvarAt = names.length === 2 ? (named < 0 ? 1 : named) : -1;
  const meanName = names[logvarAt === 0 ? 1 : 0] ?? "";
  const logvarName = names[logvarAt] ?? "";
  const per = declared.imageChannels * imageSize * imageSize;
  const latentPer = t.channels * t.size * t.size;
  const chunk = declared.batch ?? Number.POSITIVE_INFINITY;
  let kind: EncoderKind | undefined = names.length === 2 ? "mean-logvar" : undefined;

  /** One run of `n` images (padded to a fixed batch with blanks), checked. */
  const run = async (images: Float32Array, n: number): Promise<EncoderOutput> => {
    const rows = declared.batch ?? n;
    const feed = images.length === rows * per ? images : new Float32Array(rows * per);
    if (feed !== images) feed.set(images.subarray(0, n * per));
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = await session.run({
        [declared.input]: new ort.Tensor("float32", feed, [
          rows,
          declared.imageChannels,
          imageSize,
          imageSize,
        ]),
      });
    } catch (e) {
      throw new InputError(
        `${path} cannot encode [${rows}, ${declared.imageChannels}, ${imageSize}, ${imageSize}] images: ${e instanceof Error ? e.message.split("\n")[0] : e}; ${fixFor(t, imageSize)}`,
      );
    }
    const tensor = (name: string) => {
      const v = result[name];
      const channels = kind === "moments" ? 2 * t.channels : t.channels;
      const d = v?.dims ?? [];
      const fits = (c: number) =>
        d.length === 4 && d[0] === rows && d[1] === c && d[2] === t.size && d[3] === t.size;
      if (kind === undefined && v?.type === "float32" && fits(2 * t.channels)) kind = "moments";
      else if (kind === undefined && v?.type === "float32" && fits(t.channels)) kind = "direct";
      else if (v?.type !== "float32" || !fits(channels))
        throw new InputError(
          `${path} turns [${rows}, ${declared.imageChannels}, ${imageSize}, ${imageSize}] images into ${name} [${d.join(", ")}]${v && v.type !== "float32" ? ` of ${v.type}` : ""}, but spec ${t.name} takes [N, ${t.channels}, ${t.size}, ${t.size}] latents${names.length === 1 ? ` (or [N, ${2 * t.channels}, ${t.size}, ${t.size}] mean and log-variance)` : ""}; ${fixFor(t, imageSize)}`,
        );
      return v.data as Float32Array;
    };
    const first = tensor(meanName);
    if (kind === "moments") return splitMoments(first, n, latentPer);
    const mean = first.slice(0, n * latentPer);
    return kind === "mean-logvar" ? { mean, logvar: tensor(logvarName).slice(0, n * latentPer) } : { mean };
  };

  try {
    await run(new Float32Array(per), 1);
  } catch (e) {
    await session.release();
    throw e;
  }
  return {
    kind: kind ?? "direct",
    imageChannels: declared.imageChannels,
    async encode(images, n) {
      const parts: EncoderOutput[] = [];
      for (let at = 0; at < n; at += Math.min(chunk, n)) {
        const m = Math.min(chunk, n - at);
        parts.push(await run(images.subarray(at * per, (at + m) * per), m));
      }
      return joinOutputs(parts);
    },
    release: () => session.release(),
  };
}

/** [n, 2c, h, w] moments as the mean and log-variance halves of each sample. */
function splitMoments(moments: Float32Array, n: number, latentPer: number): EncoderOutput {
  const mean = new Float32Array(n * latentPer);
  const logvar = new Float32Array(n * latentPer);
  for (let i = 0; i < n; i++) {
    mean.set(moments.subarray(2 * i * latentPer, (2 * i + 1) * latentPer), i * latentPer);
    logvar.set(moments.subarray((2 * i + 1) * latentPer, (2 * i + 2) * latentPer), i * latentPer);
  }
  return { mean, logvar };
}

function joinOutputs(parts: EncoderOutput[]): EncoderOutput {
  if (parts.length === 1 && parts[0]) return parts[0];
  const join = (arrays: Float32Array[]) => {
    const out = new Float32Array(arrays.reduce((a, b) => a + b.length, 0));
    let at = 0;
    for (const a of arrays) {
      out.set(a, at);
      at += a.length;
    }
    return out;
  };
  const mean = join(parts.map((p) => p.mean));
  const logvars = parts.flatMap((p) => (p.logvar ? [p.logvar] : []));
  return logvars.length > 0 ? { mean, logvar: join(logvars) } : { mean };
}
