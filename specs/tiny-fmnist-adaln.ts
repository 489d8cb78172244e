// A TypeScript spec: read statically (never executed) and type-checked against the schema.
// It derives the adaLN comparison (Fig 7b) from tiny-fmnist with `extends`.
import { defineSpec } from "../src/index.ts";

export default defineSpec({
  extends: "./tiny-fmnist.json",
  name: "tiny-fmnist-adaln",
  description: "tiny-fmnist with DiT-style adaLN modulation instead of TMSA (the comparison of Fig 7b).",
  attention: { mode: "adaln" },
});
