// The ONNX Runtime sampling engine: EDM Heun/Euler with the whole loop around onnxruntime-node
// calls. Guidance runs the conditional and unconditional halves in one call. The update math is
// plain float32 arithmetic in JS; the same seed draws the same x_T as the tfjs engine, so both
// engines produce the same images up to float rounding.
import { edmDenoised, edmNetworkInput, edmSlope, eulerStep, heunStep } from "../../compiler/formulas/edm.ts";
import { guidedPrediction } from "../../compiler/formulas/guidance.ts";
import { numberOps } from "../../compiler/formulas/scalar-ops.ts";
import type { ResolvedSpec } from "../../compiler/resolve-defaults.ts";
import { InputError } from "../../errors.ts";
import { karrasSigmas, scalings } from "../diffusion/edm.ts";
import { Rng } from "../random.ts";
import { gaussian } from "../sampling/edm-sampler.ts";
import { type GuidanceConfig, guidanceScale } from "../sampling/guidance.ts";
import { nchwToNhwc, nhwcToNchw } from "./layout.ts";
import { onnxMetadata, openSession, ort } from "./session.ts";

export interface OnnxSampleOptions {
  sampler: "heun" | "euler";
  steps: number;
  seed: number;
  labels?: number[];
  guidance: GuidanceConfig;
  /** Called after each sampler step (progress). */
  onStep?: (step: number, total: number) => void;
}

export interface OnnxSampleResult {
  /** [N, H, W, C] (channels-last, like the tfjs engine), values ≈ [−1, 1]. */
  images: Float32Array;
  nfe: number;
}

/** Whether the ONNX sampling engine runs `sampler` for this spec: EDM specs, Heun or Euler. */
export function onnxSamples(spec: ResolvedSpec, sampler: string): sampler is "heun" | "euler" {
  return spec.diffusion.kind === "edm" && (sampler === "heun" || sampler === "euler");
}

export async function sampleWithOnnx(
  path: string,
  spec: ResolvedSpec,
  count: number,
  o: OnnxSampleOptions,
): Promise<OnnxSampleResult> {
  const c = spec.diffusion;
  if (c.kind !== "edm")
    throw new InputError("the ONNX engine samples EDM specs; use --engine tfjs for DDPM specs");
  const denoiserFile = onnxMetadata(path)["diffit.denoiser"] === "edm";
  const session = await openSession(path);
  const { size: h, channels: ch } = spec.input;
  const per = h * h * ch;
  const { labels } = o;
  const nullLabel = spec.conditioning.classes;
  const guided = labels !== undefined && o.guidance.scale !== 1;
  const guidedChannels = o.guidance.channels;
  let nfe = 0;

  /** D(x; σ) for the current batch (NCHW arrays), guided when asked. */
  const denoise = async (x: Float32Array, sigma: number, remaining: number): Promise<Float32Array> => {
    nfe++;
    const rows = guided ? 2 * count : count;
    const xs = guided ? Float32Array.from([...x, ...x]) : x;
    const s = scalings(c, sigma);
    const feeds: Record<string, ort.Tensor> = {};
    if (denoiserFile) {
      feeds.x = new ort.Tensor("float32", xs, [rows, ch, h, h]);
      feeds.sigma = new ort.Tensor("float32", new Float32Array(rows).fill(sigma), [rows]);
    } else {
      feeds.x = new ort.Tensor(
        "float32",
        xs.map((v) => edmNetworkInput(numberOps, v, s)),
        [rows, ch, h, h],
      );
      feeds.t = new ort.Tensor("float32", new Float32Array(rows).fill(s.cNoise), [rows]);
    }
    if (labels) {
      const ys = guided ? [...labels, ...new Array<number>(count).fill(nullLabel)] : labels;
      feeds.y = new ort.Tensor("int64", BigInt64Array.from(ys.map((v) => BigInt(v))), [rows]);
    }
    const out = (await session.run(feeds)).out?.data as Float32Array;
    const d = denoiserFile ? out : out.map((f, i) => edmDenoised(numberOps, xs[i] ?? 0, f, s));
    if (!guided) return d;
    const scale = guidanceScale(o.guidance, remaining);
    const result = new Float32Array(count * per);
    for (let i = 0; i < result.length; i++) {
      const k = Math.floor(i / (h * h)) % ch; // NCHW channel
      const cond = d[i] ?? 0;
      const guideThis = guidedChannels === "all" || guidedChannels.includes(k);
      result[i] = guideThis ? guidedPrediction(numberOps, cond, d[i + count * per] ?? 0, scale) : cond;
    }
    return result;
  };

  try {
    const sigmas = karrasSigmas(c, o.steps);
    // The same draw as the tfjs engine: x_T in channels-last order, then to NCHW.
    const z = gaussian(new Rng(o.seed, "sample/edm"), count * per);
    let x = nhwcToNchw(z, count, h, h, ch).map((v) => v * (sigmas[0] ?? 0));
    for (let i = 0; i < o.steps; i++) {
      const s = sigmas[i] ?? 0;
      const next = sigmas[i + 1] ?? 0;
      const d = await denoise(x, s, 1 - i / o.steps);
      const slope = x.map((v, k) => edmSlope(numberOps, v, d[k] ?? 0, s));
      let xNext = x.map((v, k) => eulerStep(numberOps, v, slope[k] ?? 0, s, next));
      if (o.sampler === "heun" && next > 0) {
        const d2 = await denoise(xNext, next, 1 - (i + 1) / o.steps);
        const xPrev = x;
        xNext = xNext.map((v, k) =>
          heunStep(
            numberOps,
            xPrev[k] ?? 0,
            slope[k] ?? 0,
            edmSlope(numberOps, v, d2[k] ?? 0, next),
            s,
            next,
          ),
        );
      }
      x = xNext;
      o.onStep?.(i + 1, o.steps);
    }
    return { images: nchwToNhwc(x, count, h, h, ch), nfe };
  } finally {
    await session.release();
  }
}
