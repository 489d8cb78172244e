// A lowering context whose parameters are graph inputs instead of initializers: the training
// graph takes the weights as state and returns updated ones, so the layout changes the
// inference emitter bakes into initializers (OIHW for Conv, [C, 1, 1] for GroupNorm) become
// ops on the input here, and the reverse pass differentiates through them.

import type { NodeOf, OpKind } from "../ir/types.ts";
import type { TensorGraph } from "../tensor/graph.ts";
import { LowerContext, type WeightForm } from "../tensor/lower-context.ts";

/** The graph input holding a parameter's current value. */
export const paramInput = (name: string) => `w:${name}`;

export class ParamInputContext extends LowerContext {
  private readonly forms = new Map<string, string>();

  constructor(
    b: TensorGraph,
    opset: number,
    private readonly paramShapes: ReadonlyMap<string, readonly number[]>,
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

  override weight<K extends OpKind>(node: NodeOf<K>, role: string, form: WeightForm = "as-is"): string {
    const param = node.params[role];
    if (!param) throw new Error(`${node.name} has no parameter ${role}`);
    const key = `${param}|${form}`;
    const known = this.forms.get(key);
    if (known) return known;
    const shape = this.paramShapes.get(param);
    if (!shape) throw new Error(`no shape for ${param}`);
    const x = paramInput(param);
    let name = x;
    if (form === "oihw") name = this.b.op("Transpose", [x], `${param}/oihw`, { perm: [3, 2, 0, 1] });
    else if (form === "iohw") name = this.b.op("Transpose", [x], `${param}/iohw`, { perm: [2, 3, 0, 1] });
    else if (form === "c11")
      name = this.b.op("Reshape", [x, this.b.ints([shape[0] ?? 1, 1, 1])], `${param}/c11`);
    this.forms.set(key, name);
    return name;
  }
}
