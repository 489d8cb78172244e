// The JSON Schema that editors use through `$schema`, generated from the zod source.
import { z } from "zod";
import { specFileSchema } from "./schema/spec.ts";

export function specJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(specFileSchema, { io: "input", unrepresentable: "any" }),
    title: "diffit spec",
    description:
      "A DiffiT model spec (image-space U-Net or latent transformer). See README.md, section 'Spec reference'.",
  };
}
