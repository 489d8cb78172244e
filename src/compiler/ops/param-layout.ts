// Parameter layout kinds: the one place that says how each kind of parameter is laid out outside
// the IR. The IR keeps linear weights [in, out] and conv weights [kh, kw, in, out] (also for
// transposed convs); PyTorch, official checkpoints and ONNX's Conv/ConvTranspose use other axis
// orders. Official-checkpoint naming, the ONNX export and training step, and the PyTorch module
// all read their conversions from PARAM_LAYOUTS.

/** How a parameter is laid out, declared by its op (ParamSpec.layout). */
export type ParamLayout =
  /** A dense weight, IR [in, out]; PyTorch [out, in]. */
  | "linear"
  /** A convolution kernel, IR [kh, kw, in, out]; PyTorch and ONNX Conv [out, in, kh, kw]. */
  | "conv"
  /** A transposed-convolution kernel, IR [kh, kw, in, out]; PyTorch and ONNX ConvTranspose [in, out, kh, kw]. */
  | "conv-transpose"
  /** A per-channel vector (bias, norm scale, frequencies): the same everywhere. */
  | "vector"
  /** A lookup table (label embedding, relative-position bias): the same everywhere. */
  | "table"
  /** A [tokens, width] position table; DiT-style state_dicts store it as [1, tokens, width]. */
  | "position";

/** How a parameter is laid out in the ONNX file: as in the IR, or transposed for an operator. */
export type WeightForm =
  | "as-is"
  /** conv [kh, kw, in, out] → Conv's [out, in, kh, kw] */
  | "oihw"
  /** conv-transpose [kh, kw, in, out] → ConvTranspose's [in, out, kh, kw] */
  | "iohw"
  /** per-channel [C] → [C, 1, 1] to broadcast over NCHW */
  | "c11";

export interface LayoutRule {
  /** IR → PyTorch axis order (PyTorch dims[i] = IR dims[perm[i]]); absent where PyTorch keeps the IR's. */
  torch?: readonly number[];
  /** The form ONNX operators read: PyTorch's order for convolutions, the IR's for MatMul ([in, out]). */
  onnx: WeightForm;
  /** The official state_dict adds a leading batch axis of 1 (DiT's pos_embed). */
  officialBatchAxis?: true;
}

export const PARAM_LAYOUTS = {
  linear: { torch: [1, 0], onnx: "as-is" },
  conv: { torch: [3, 2, 0, 1], onnx: "oihw" },
  "conv-transpose": { torch: [2, 3, 0, 1], onnx: "iohw" },
  vector: { onnx: "as-is" },
  table: { onnx: "as-is" },
  position: { onnx: "as-is", officialBatchAxis: true },
} as const satisfies Record<ParamLayout, LayoutRule>;

/** The rule of a layout kind. */
export const layoutRule = (kind: ParamLayout): LayoutRule => PARAM_LAYOUTS[kind];

/** The axis permutation of each transposed weight form: the PyTorch order of its kind. */
export const FORM_PERMS: Partial<Record<WeightForm, readonly number[]>> = {
  oihw: PARAM_LAYOUTS.conv.torch,
  iohw: PARAM_LAYOUTS["conv-transpose"].torch,
};

/** A parameter's dims in `form`. */
export function formDims(shape: readonly number[], form: WeightForm): number[] {
  const perm = FORM_PERMS[form];
  if (perm) return perm.map((p) => shape[p] ?? 1);
  return form === "c11" ? [shape[0] ?? 1, 1, 1] : [...shape];
}

/** The permutation that undoes `perm`. */
export const inversePerm = (perm: readonly number[]) => perm.map((_, i) => perm.indexOf(i));

/** `src` (row-major, dims `shape`) with its axes permuted: out dims[i] = shape[perm[i]]. */
export function permute(src: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p] ?? 1);
  const strides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) strides[i] = (strides[i + 1] ?? 1) * (shape[i + 1] ?? 1);
  const out = new Float32Array(src.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let s = 0;
    for (let k = 0; k < rank; k++) s += (idx[k] ?? 0) * (strides[perm[k] ?? 0] ?? 0);
    out[o] = src[s] ?? 0;
    for (let k = rank - 1; k >= 0; k--) {
      idx[k] = (idx[k] ?? 0) + 1;
      if ((idx[k] ?? 0) < (outShape[k] ?? 1)) break;
      idx[k] = 0;
    }
  }
  return out;
}
