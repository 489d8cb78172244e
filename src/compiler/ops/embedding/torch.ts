// Time, label and position embeddings in PyTorch.
import type { TorchEmitter } from "../torch-emitter.ts";
import { py } from "../torch-emitter.ts";
import type { EmbeddingOp } from "./def.ts";

export const EMBEDDING_TORCH = {
  "timestep-embedding": (n, ctx) => {
    const a = n.attrs;
    const half = a.dim / 2;
    const freqs =
      a.kind === "fourier"
        ? `${ctx.param("freqs")} * ${py(2 * Math.PI)}`
        : `torch.exp(torch.arange(${half}, dtype=torch.float32) * ${py(-Math.log(a.maxPeriod) / half)})`;
    ctx.line(`${ctx.out}_args = ${ctx.input(0).name}[:, None] * ${freqs}`);
    const parts = a.layout === "cos-sin" ? ["cos", "sin"] : ["sin", "cos"];
    ctx.line(`${ctx.out} = torch.cat([${parts.map((f) => `torch.${f}(${ctx.out}_args)`).join(", ")}], 1)`);
    return "flat";
  },
  "label-embedding": (_n, ctx) => {
    ctx.line(`${ctx.out} = F.embedding(${ctx.input(0).name}, ${ctx.param("embedding_table.weight")})`);
    return "flat";
  },
  "add-position": (n, ctx) => {
    const { grid, width } = n.attrs;
    ctx.line(`${ctx.out} = ${ctx.as(0, "NHWC")} + ${ctx.param("table")}.reshape(${grid}, ${grid}, ${width})`);
    return "NHWC";
  },
} satisfies { [K in EmbeddingOp]: TorchEmitter<K> };
