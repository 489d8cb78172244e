// Time and label embeddings: a [N] input becomes a [N, width] vector.
import type { OpDef } from "./op-def.ts";
import { f32, noMacs } from "./op-def.ts";

export const timestepEmbedding: OpDef<"timestep-embedding"> = {
  infer(a, [t]) {
    if (t?.shape.length !== 1) return "timestep-embedding expects a [N] input";
    return f32([t.shape[0] ?? "N", a.dim]);
  },
  // Fourier features draw fixed random frequencies (EDM's FourierEmbedding); sinusoids have none.
  params: (a) =>
    a.kind === "fourier"
      ? [
          {
            role: "freqs",
            shape: [a.dim / 2],
            init: { kind: "fourier", scale: a.fourierScale },
            trainable: false,
          },
        ]
      : [],
  macs: noMacs,
};

export const labelEmbedding: OpDef<"label-embedding"> = {
  infer(a, [y]) {
    if (y?.shape.length !== 1 || y.dtype !== "int32") return "label-embedding expects an int32 [N] input";
    return f32([y.shape[0] ?? "N", a.width]);
  },
  params: (a) => [
    { role: "embedding_table.weight", shape: [a.rows, a.width], init: { kind: "normal", std: 0.02 } },
  ],
  macs: noMacs,
};

export const input: OpDef<"input"> = {
  infer: () => "inputs are typed by the builder",
  params: () => [],
  macs: noMacs,
};
