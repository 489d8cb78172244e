// Building blocks of the ONNX corpus: a valid model changed one thing at a time, one-node models
// that carry just a signature, and the VAE-decoder and feature-network cases built from those.
import {
  DataType,
  type ModelProto,
  onnx,
  type ValueInfoProto,
} from "../../../src/compiler/emit/onnx/proto.ts";
import type { Broken } from "./fixtures.ts";

/** A broken ONNX input, and the commands that read it (default: all five in turn). */
export type BrokenModel = Broken & { via?: string[] };

const encode = (m: ModelProto) => onnx.ModelProto.encode(m).finish();

/** A copy of the valid model with one change. */
export function mutate(bytes: Uint8Array, change: (m: ModelProto) => void): Uint8Array {
  const m = onnx.ModelProto.toObject(onnx.ModelProto.decode(bytes), { bytes: Buffer.from }) as ModelProto;
  change(m);
  return encode(m);
}

export const tensorInfo = (name: string, elemType: number, dims: (number | string)[]): ValueInfoProto => ({
  name,
  type: {
    tensorType: {
      elemType,
      shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
    },
  },
});

/** A one-node model (Identity), enough to carry a signature: onnxruntime is never reached. */
function identityModel(inputs: ValueInfoProto[], outputs: ValueInfoProto[]): Uint8Array {
  return encode({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: "decoder",
      node: [{ opType: "Identity", input: [inputs[0]?.name ?? "a"], output: [outputs[0]?.name ?? "b"] }],
      input: inputs,
      output: outputs,
    },
  });
}

/** Files that decode but are no VAE decoder, or no feature network, for the spec's shapes. */
export function signatureCases(): BrokenModel[] {
  const F = DataType.FLOAT;
  const cases: BrokenModel[] = [];
  const decoder = (name: string, inputs: ValueInfoProto[], outputs: ValueInfoProto[], says: RegExp) =>
    cases.push({
      name: `VAE decoder: ${name}`,
      bytes: identityModel(inputs, outputs),
      says,
      via: ["--vae-decoder"],
    });
  const image = tensorInfo("image", F, ["N", 3, "H", "W"]);
  decoder(
    "3-channel latents",
    [tensorInfo("latent", F, ["N", 3, "h", "w"])],
    [image],
    /input latent is \[N, 3, h, w\], expected \[N, 4, 8, 8\]/,
  );
  decoder(
    "latents of 16×16",
    [tensorInfo("latent", F, ["N", 4, 16, 16])],
    [image],
    /input latent is \[N, 4, 16, 16\]/,
  );
  decoder(
    "latents of rank 3",
    [tensorInfo("latent", F, ["N", 4, 8])],
    [image],
    /input latent is \[N, 4, 8\]/,
  );
  decoder(
    "int64 latents",
    [tensorInfo("latent", DataType.INT64, ["N", 4, 8, 8])],
    [image],
    /input latent is int64, expected float/,
  );
  decoder(
    "two inputs",
    [tensorInfo("latent", F, ["N", 4, 8, 8]), tensorInfo("scale", F, [1])],
    [image],
    /unexpected input scale/,
  );
  decoder("no input", [], [image], /no input #1 \[N, 4, 8, 8\]/);
  decoder(
    "an output of rank 3",
    [tensorInfo("latent", F, ["N", 4, 8, 8])],
    [tensorInfo("image", F, ["N", 3, 64])],
    /output image is \[N, 3, 64\]/,
  );
  decoder(
    "an int output",
    [tensorInfo("latent", F, ["N", 4, 8, 8])],
    [tensorInfo("image", DataType.UINT8, ["N", 3, 64, 64])],
    /output image is uint8, expected float/,
  );
  decoder(
    "an output of 5 channels",
    [tensorInfo("latent", F, ["N", 4, 8, 8])],
    [tensorInfo("image", F, ["N", 5, 64, 64])],
    /the decoder returns 5 channels; images need 1 or 3/,
  );
  decoder(
    "two outputs",
    [tensorInfo("latent", F, ["N", 4, 8, 8])],
    [image, tensorInfo("kl", F, [1])],
    /unexpected output kl/,
  );
  decoder("no output", [tensorInfo("latent", F, ["N", 4, 8, 8])], [], /no output #1/);
  const features = (name: string, inputs: ValueInfoProto[], outputs: ValueInfoProto[], says: RegExp) =>
    cases.push({
      name: `feature network: ${name}`,
      bytes: identityModel(inputs, outputs),
      says,
      via: ["--features"],
    });
  const feats = tensorInfo("features", F, ["N", 64]);
  features(
    "3-channel images",
    [tensorInfo("x", F, ["N", 3, 32, 32])],
    [feats],
    /input x is \[N, 3, 32, 32\], expected \[N, 1, 32, 32\]/,
  );
  features("28×28 images", [tensorInfo("x", F, ["N", 1, 28, 28])], [feats], /input x is \[N, 1, 28, 28\]/);
  features(
    "uint8 images",
    [tensorInfo("x", DataType.UINT8, ["N", 1, 32, 32])],
    [feats],
    /input x is uint8, expected float/,
  );
  features(
    "two inputs",
    [tensorInfo("x", F, ["N", 1, 32, 32]), tensorInfo("y", DataType.INT64, ["N"])],
    [feats],
    /unexpected input y/,
  );
  features(
    "int64 features",
    [tensorInfo("x", F, ["N", 1, 32, 32])],
    [tensorInfo("f", DataType.INT64, ["N", 8])],
    /output f is int64, expected float/,
  );
  features("rank-2 images", [tensorInfo("x", F, ["N", 1024])], [feats], /input x is \[N, 1024\]/);
  features(
    "float16 images",
    [tensorInfo("x", DataType.FLOAT16, ["N", 1, 32, 32])],
    [feats],
    /input x is float16/,
  );
  features("no output", [tensorInfo("x", F, ["N", 1, 32, 32])], [], /no output #1/);
  return cases;
}
