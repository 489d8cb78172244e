// Graph inputs in the tensor tier: the ONNX emitter and the training step bind them.
import type { TensorLowering } from "../../tensor/lower-context.ts";
import type { InputOp } from "./def.ts";

export const INPUT_TENSOR = {
  input: () => {
    throw new Error("inputs are bound by the emitter");
  },
} satisfies { [K in InputOp]: TensorLowering<K> };
