// Every VJP rule, keyed by the ONNX op type it differentiates. An op missing here fails the
// reverse pass with its name, before anything runs.
import type { VjpRule } from "../vjp.ts";
import { CONV_VJPS } from "./conv.ts";
import { ELEMENTWISE_VJPS } from "./elementwise.ts";
import { LAYOUT_VJPS } from "./layout.ts";
import { LINALG_VJPS } from "./linalg.ts";
import { NORM_VJPS } from "./norm.ts";

export const VJP_RULES: Readonly<Record<string, VjpRule>> = {
  ...ELEMENTWISE_VJPS,
  ...LINALG_VJPS,
  ...CONV_VJPS,
  ...NORM_VJPS,
  ...LAYOUT_VJPS,
};
