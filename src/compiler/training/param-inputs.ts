// A lowering context whose parameters are graph inputs instead of initializers: the training
// graph takes the weights as state and returns updated ones, so the layout changes the
// inference emitter bakes into initializers (OIHW for Conv, [C, 1, 1] for GroupNorm) become
// ops on the input here, and the reverse pass differentiates through them.

import type { TensorGraph } from "../tensor/graph.ts";
import { FORM_PERMS, formDims, LowerContext, type WeightForm } from "../tensor/lower-context.ts";

/** The graph input holding a parameter's current value. */
export const paramInput = (name: string) => `w:${name}`;

export class ParamInputContext extends LowerContext {
  constructor(b: TensorGraph, opset: number, paramShapes: ReadonlyMap<string, readonly number[]>) {
    super(
      b,
      { opset, fp16: false },
      (name) => {
        throw new Error(`the training graph reads ${name} as an input, not as an initializer`);
      },
      paramShapes,
    );
  }

  /** Parameter `param` in `form`: the graph input, with the layout change as an op on it. */
  protected override materialize(param: string, shape: readonly number[], form: WeightForm): string {
    const x = paramInput(param);
    const perm = FORM_PERMS[form];
    if (perm) return this.b.op("Transpose", [x], `${param}/${form}`, { perm });
    if (form === "c11") return this.b.op("Reshape", [x, this.b.ints(formDims(shape, form))], `${param}/c11`);
    return x;
  }
}
