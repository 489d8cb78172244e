// Embeddings: time and label features (a [N] input becomes a [N, width] vector) and the position
// table added to a token grid.
import type { OpDef, PrimitiveName } from "../op-def.ts";
import { expectRank, f32, noMacs } from "../op-def.ts";

export interface EmbeddingAttrs {
  /** Sinusoidal or Fourier features of a [N] float input. */
  "timestep-embedding": {
    kind: "positional" | "fourier";
    dim: number;
    layout: "cos-sin" | "sin-cos";
    maxPeriod: number;
    fourierScale: number;
  };
  /** Label table with `rows` entries (classes plus the null class). */
  "label-embedding": { rows: number; width: number };
  /** Adds a [grid·grid, width] position table to a [N, grid, grid, width] token grid. */
  "add-position": { grid: number; width: number; learned: boolean };
}

export type EmbeddingOp = keyof EmbeddingAttrs;

export const EMBEDDING_DEFS = {
  "timestep-embedding": {
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
              layout: "vector",
              trainable: false,
            },
          ]
        : [],
    macs: noMacs,
  },
  "label-embedding": {
    infer(a, [y]) {
      if (y?.shape.length !== 1 || y.dtype !== "int32") return "label-embedding expects an int32 [N] input";
      return f32([y.shape[0] ?? "N", a.width]);
    },
    params: (a) => [
      {
        role: "embedding_table.weight",
        shape: [a.rows, a.width],
        init: { kind: "normal", std: 0.02 },
        layout: "table",
      },
    ],
    macs: noMacs,
  },
  "add-position": {
    infer(a, [x]) {
      const bad = expectRank(x, 4, "add-position input");
      if (bad || !x) return bad ?? "missing input";
      const [, h, w, c] = x.shape;
      if (h !== a.grid || w !== a.grid || c !== a.width)
        return `expected a ${a.grid}×${a.grid}×${a.width} token grid`;
      return x;
    },
    params: (a) => [
      {
        role: "",
        shape: [a.grid * a.grid, a.width],
        init: a.learned ? { kind: "normal", std: 0.02 } : { kind: "sincos-2d", grid: a.grid },
        layout: "position",
        trainable: a.learned,
      },
    ],
    macs: noMacs,
  },
} satisfies { [K in EmbeddingOp]: OpDef<K> };

export const EMBEDDING_PRIMITIVES = {
  "timestep-embedding": { name: "timestepEmbedding" },
  "label-embedding": { name: "labelEmbedding" },
  "add-position": { name: "addPosition" },
} as const satisfies { [K in EmbeddingOp]: PrimitiveName };
