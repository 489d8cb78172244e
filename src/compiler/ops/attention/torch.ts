// TMSA in PyTorch, as Swin-style PyTorch code writes it: the same equations as tensor.ts and
// tfjs.ts [P Eq 3-6], inside non-overlapping w × w windows, with PyTorch's [out, in] linear weights.
// The module defines `window_attention` once and a relative-position index per window size.
import type { TorchEmitter } from "../torch-emitter.ts";
import { type AttentionOp, relativePositionIndex } from "./def.ts";

/** q = x_s W_qs + x_t W_qt (likewise k, v; Eq 3-5); Attn = Softmax(q k^T / sqrt(d) + B) v (Eq 6). */
const WINDOW_ATTENTION_PY = `
def window_attention(x, temb, p, *, heads, window, mode, index):
    n, h, w_, c = x.shape
    w = window
    tokens = w * w
    d = c // heads
    windows = (h // w) * (w_ // w)
    # [N, H, W, C] -> [N * windows, T, C]
    win = x.reshape(n, h // w, w, w_ // w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, tokens, c)
    qkv = F.linear(win, p["qkv.weight"], p.get("qkv.bias"))
    if mode == "tmsa":
        t = F.linear(temb, p["qkv_temb.weight"], p.get("qkv_temb.bias"))  # [N, 3C]
        qkv = (qkv.reshape(n, windows, tokens, 3 * c) + t[:, None, None, :]).reshape(-1, tokens, 3 * c)
    # Each projection splits as (3, heads, d).
    q, k, v = qkv.reshape(-1, tokens, 3, heads, d).permute(2, 0, 3, 1, 4)
    scores = (q * d**-0.5) @ k.transpose(-2, -1)  # [N * windows, heads, T, T]
    if "relative_position_bias_table" in p:
        bias = p["relative_position_bias_table"][index].reshape(tokens, tokens, heads).permute(2, 0, 1)
        scores = scores + bias
    if mode == "time-in-bias":
        table = F.linear(temb, p["temb_bias.weight"], p["temb_bias.bias"]).reshape(n, -1, heads)
        tb = table[:, index].reshape(n, tokens, tokens, heads).permute(0, 3, 1, 2)
        scores = (scores.reshape(n, windows, heads, tokens, tokens) + tb[:, None]).reshape(
            -1, heads, tokens, tokens
        )
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(-1, tokens, c)
    y = out.reshape(n, h // w, w_ // w, w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(n, h, w_, c)
    return F.linear(y, p["proj.weight"], p["proj.bias"])
`;

export const ATTENTION_TORCH = {
  "window-attention": (n, ctx) => {
    const a = n.attrs;
    const index = `INDEX_${a.window}`;
    ctx.define("window_attention", WINDOW_ATTENTION_PY);
    ctx.define(index, `${index} = torch.tensor([${Array.from(relativePositionIndex(a.window)).join(", ")}])`);
    const temb = n.inputs[1] === undefined ? "None" : ctx.input(1).name;
    const params = `{${Object.keys(n.params)
      .map((r) => `${JSON.stringify(r)}: ${ctx.param(r)}`)
      .join(", ")}}`;
    ctx.line(
      `${ctx.out} = window_attention(${ctx.as(0, "NHWC")}, ${temb}, ${params}, heads=${a.heads}, window=${a.window}, mode=${JSON.stringify(a.mode)}, index=${index})`,
    );
    return "NHWC";
  },
} satisfies { [K in AttentionOp]: TorchEmitter<K> };
