// Pooling and up-sampling in PyTorch.
import type { TorchEmitter } from "../torch-emitter.ts";
import type { ResampleOp } from "./def.ts";

export const RESAMPLE_TORCH = {
  "avg-pool": (n, ctx) => {
    ctx.line(`${ctx.out} = F.avg_pool2d(${ctx.as(0, "NCHW")}, ${n.attrs.size})`);
    return "NCHW";
  },
  resize: (n, ctx) => {
    const x = ctx.as(0, "NCHW");
    const s = n.attrs.scale;
    ctx.line(
      n.attrs.mode === "nearest"
        ? `${ctx.out} = F.interpolate(${x}, scale_factor=${s}, mode="nearest")`
        : `${ctx.out} = F.interpolate(${x}, scale_factor=${s}, mode="bilinear", align_corners=False)`,
    );
    return "NCHW";
  },
} satisfies { [K in ResampleOp]: TorchEmitter<K> };
