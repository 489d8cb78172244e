// A small VAE with SD-VAE's interface, built here for tests (no weights downloaded): an encoder
// of [N, 3, 8h, 8w] images in [−1, 1] to a diagonal Gaussian over [N, c, h, w] latents, and a
// decoder of [N, c, h, w] latents to [N, 3, 8h, 8w] images in [−1, 1]. Down: three stride-2
// 3×3 convolutions with SiLU and a 1×1 convolution to the 2c "moments" (mean, then log-variance,
// as SD-VAE's quant_conv); up: a convolution, then three rounds of nearest ×2 upsampling and a
// convolution with SiLU, and tanh. Weights are seeded. Sizes are symbolic in the files (N, H, W),
// as exporters write them, so one file takes images of any multiple of 8 pixels.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderGraph } from "../../src/compiler/emit/onnx/render.ts";
import { TensorGraph } from "../../src/compiler/tensor/graph.ts";
import { Rng } from "../../src/runtime/random.ts";
import { encodeRendered } from "./onnx-model.ts";

/**
 * The encoder's outputs: "mean-logvar" two [N, c, h, w] outputs; "moments" one [N, 2c, h, w]
 * (optimum's `latent_parameters`); "latent" one [N, c, h, w], the mean (a plain autoencoder).
 */
export type EncoderInterface = "mean-logvar" | "moments" | "latent";

export interface TestVaeOptions {
  /** Latent channels (SD-VAE: 4). */
  channels?: number;
  seed?: number;
  interface?: EncoderInterface;
  /** Added to the log-variance (−2: a standard deviation near e^−1). */
  logvarBias?: number;
}

/** A 2-D convolution with seeded He-normal weights and `bias` (default zeros); same padding. */
function conv(
  g: TensorGraph,
  rng: Rng,
  x: string,
  [cin, cout, k, stride]: [number, number, number, number],
  name: string,
  bias = new Float32Array(cout),
): string {
  const std = Math.sqrt(2 / (cin * k * k));
  const weight = Float32Array.from({ length: cout * cin * k * k }, () => rng.normal() * std);
  const w = g.initializer(`${name}.weight`, weight, [cout, cin, k, k]);
  const b = g.initializer(`${name}.bias`, bias, [cout]);
  const p = (k - 1) / 2;
  return g.op("Conv", [x, w, b], name, {
    kernel_shape: [k, k],
    strides: [stride, stride],
    pads: [p, p, p, p],
  });
}

const silu = (g: TensorGraph, x: string, name: string) =>
  g.op("Mul", [x, g.op("Sigmoid", [x], `${name}/sigmoid`)], name);

/** The encoder as ONNX bytes. */
export function testVaeEncoder(o: TestVaeOptions = {}): Uint8Array {
  const c = o.channels ?? 4;
  const rng = new Rng(o.seed ?? 0, "test-vae/encoder");
  const g = new TensorGraph();
  let x = g.input("sample", [1, 3, 32, 32]);
  const widths = [3, 16, 32, 32];
  for (let i = 0; i < 3; i++)
    x = silu(g, conv(g, rng, x, [widths[i] ?? 0, widths[i + 1] ?? 0, 3, 2], `down${i}`), `down${i}/silu`);
  const bias = Float32Array.from({ length: 2 * c }, (_, i) => (i < c ? 0 : (o.logvarBias ?? -2)));
  const moments = conv(g, rng, x, [32, 2 * c, 1, 1], "quant_conv", bias);
  const kind = o.interface ?? "mean-logvar";
  const latent = ["N", c, "h", "w"];
  let outputs: [string, (number | string)[]][];
  if (kind === "moments") {
    g.alias(moments, "latent_parameters");
    outputs = [["latent_parameters", ["N", 2 * c, "h", "w"]]];
  } else {
    const [mean = "", logvar = ""] = g.opN("Split", [moments, g.ints([c, c])], "split", 2, { axis: 1 });
    g.alias(mean, kind === "latent" ? "latent_sample" : "mean");
    if (kind === "latent") outputs = [["latent_sample", latent]];
    else {
      g.alias(logvar, "logvar");
      outputs = [
        ["mean", latent],
        ["logvar", latent],
      ];
    }
  }
  return encodeRendered("test_vae_encoder", renderGraph(g, 17), [["sample", ["N", 3, "H", "W"]]], outputs);
}

/** The decoder as ONNX bytes. */
export function testVaeDecoder(o: TestVaeOptions = {}): Uint8Array {
  const c = o.channels ?? 4;
  const rng = new Rng(o.seed ?? 0, "test-vae/decoder");
  const g = new TensorGraph();
  let x = silu(g, conv(g, rng, g.input("latent_sample", [1, c, 4, 4]), [c, 32, 3, 1], "in"), "in/silu");
  const widths = [32, 16, 16, 3];
  const twice = g.constant([1, 1, 2, 2], [4]);
  for (let i = 0; i < 3; i++) {
    x = g.op("Resize", [x, "", twice], `up${i}/resize`, {
      mode: "nearest",
      coordinate_transformation_mode: "asymmetric",
      nearest_mode: "floor",
    });
    x = conv(g, rng, x, [widths[i] ?? 0, widths[i + 1] ?? 0, 3, 1], `up${i}`);
    if (i < 2) x = silu(g, x, `up${i}/silu`);
  }
  g.alias(g.op("Tanh", [x], "tanh"), "sample");
  return encodeRendered(
    "test_vae_decoder",
    renderGraph(g, 17),
    [["latent_sample", ["N", c, "h", "w"]]],
    [["sample", ["N", 3, "H", "W"]]],
  );
}

/** Writes `vae-encoder.onnx` and `vae-decoder.onnx` (or with `tag` in the names) into `dir`. */
export function writeTestVae(
  dir: string,
  o: TestVaeOptions = {},
  tag = "",
): { encoder: string; decoder: string } {
  const encoder = join(dir, `vae-encoder${tag}.onnx`);
  const decoder = join(dir, `vae-decoder${tag}.onnx`);
  writeFileSync(encoder, testVaeEncoder(o));
  writeFileSync(decoder, testVaeDecoder(o));
  return { encoder, decoder };
}
