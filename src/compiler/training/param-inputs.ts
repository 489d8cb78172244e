// A lowering context whose parameters are graph inputs instead of initializers: the training
// graph takes the weights as state and returns updated ones. Each parameter input is stored in
// the layout its first use asks for, which is the ONNX form of its layout kind (PARAM_LAYOUTS:
// OIHW for a Conv kernel, IOHW for a ConvTranspose one), so
// the step transposes no weight and no weight gradient (onnxruntime's transposes of 3×3 kernels
// took 7 % of a diffit-cifar10 step). Other forms become ops on the input, and the reverse pass
// differentiates through them.

import { FORM_PERMS, formDims, type WeightForm } from "../ops/param-layout.ts";
import type { TensorGraph } from "../tensor/graph.ts";
import { LowerContext } from "../tensor/lower-context.ts";

/** The graph input holding a parameter's current value. */
export const paramInput = (name: string) => `w:${name}`;

/** How the training state holds a parameter: its IR shape, permuted by `perm` when present. */
export interface StoredParam {
  name: string;
  /** The IR (checkpoint) shape. */
  shape: readonly number[];
  /** The input's dims: dims[i] = shape[perm[i]]. */
  dims: readonly number[];
  perm?: readonly number[];
}

const identity = (rank: number) => Array.from({ length: rank }, (_, i) => i);

export class ParamInputContext extends LowerContext {
  private readonly stored = new Map<string, StoredParam>();

  constructor(
    b: TensorGraph,
    opset: number,
    private readonly paramShapes: ReadonlyMap<string, readonly number[]>,
    /** Adds the graph input of a parameter, once, when its layout is decided. */
    private readonly declareInput: (name: string, dims: readonly number[]) => void,
  ) {
    super(
      b,
      { opset, fp16: false },
      (name) => {
        throw new Error(`the training graph reads ${name} as an input, not as an initializer`);
      },
      paramShapes,
    );
  }

  /** The stored layout of `param`: the first form it was used in, or as-is if it is unused so far. */
  storedParam(param: string, firstForm: WeightForm = "as-is"): StoredParam {
    const known = this.stored.get(param);
    if (known) return known;
    const shape = this.paramShapes.get(param);
    if (!shape) throw new Error(`no shape for ${param}`);
    const perm = FORM_PERMS[firstForm];
    const s: StoredParam = perm
      ? { name: param, shape, dims: formDims(shape, firstForm), perm }
      : { name: param, shape, dims: shape };
    this.declareInput(paramInput(param), s.dims);
    this.stored.set(param, s);
    return s;
  }

  /** Parameter `param` in `form`: the graph input, with any other layout as an op on it. */
  protected override materialize(param: string, shape: readonly number[], form: WeightForm): string {
    const s = this.storedParam(param, form);
    const x = paramInput(param);
    // want[i] = shape[target[i]] and stored[j] = shape[from[j]], so want[i] = stored[from⁻¹(target[i])].
    const target = FORM_PERMS[form] ?? identity(shape.length);
    const from = s.perm ?? identity(shape.length);
    const perm = target.map((a) => from.indexOf(a));
    if (perm.some((p, i) => p !== i)) return this.b.op("Transpose", [x], `${param}/${form}`, { perm });
    if (form === "c11") return this.b.op("Reshape", [x, this.b.ints(formDims(shape, form))], `${param}/c11`);
    return x;
  }
}
