// TMSA, the time-dependent multi-head self-attention of DiffiT [P §3.2 Eq 3-6], as one IR op.
// Its attributes, parameters and costs are declared here; the family's lowerings (tensor.ts,
// tfjs.ts, torch.ts) implement:
//   q = x_s·W_qs + x_t·W_qt,  k = x_s·W_ks + x_t·W_kt,  v = x_s·W_vs + x_t·W_vt        (Eq 3-5)
//   Attn = Softmax(q·kᵀ/√d + B)·v                                                    (Eq 6)
// inside non-overlapping w×w windows, with B from a Swin-style relative position table.
// The spatial and temporal projections are fused as [OFF] does: qkv (C→3C) and qkv_temb (T→3C),
// each output split as (3, heads, C/heads). The ablation modes of Table 6 change only where
// the time token enters.
import type { AttentionMode } from "../../ir/types.ts";
import type { OpDef, ParamSpec, PrimitiveName } from "../op-def.ts";
import { expectRank, lastDim, zerosVector } from "../op-def.ts";

export interface AttentionAttrs {
  /** TMSA: windowed multi-head self-attention whose q, k, v depend on the time token [P Eq 3-6]. */
  "window-attention": {
    width: number;
    heads: number;
    window: number;
    mode: AttentionMode;
    timeWidth: number;
    relativePositionBias: boolean;
    qkvBias: boolean;
  };
}

export type AttentionOp = keyof AttentionAttrs;

/** Entries of the relative position table: (2w−1)² offsets. */
export const biasTableRows = (window: number) => (2 * window - 1) ** 2;

/** Modes whose attention reads the time token. */
export const usesTimeToken = (mode: AttentionMode) => mode === "tmsa" || mode === "time-in-bias";

const windowAttention: OpDef<"window-attention"> = {
  infer(a, [x, t]) {
    const bad = expectRank(x, 4, "window-attention input");
    if (bad || !x) return bad ?? "missing input";
    const [, h, w, c] = x.shape;
    if (c !== a.width) return `window-attention expects width ${a.width}, got ${c}`;
    if (typeof h !== "number" || typeof w !== "number" || h % a.window || w % a.window) {
      return `window ${a.window} does not tile a ${h}×${w} grid`;
    }
    if (a.width % a.heads) return `${a.heads} heads do not divide width ${a.width}`;
    if (usesTimeToken(a.mode)) {
      if (t?.shape.length !== 2 || lastDim(t) !== a.timeWidth)
        return `mode ${a.mode} needs a [N, ${a.timeWidth}] time token`;
    }
    return x;
  },
  params(a) {
    const c = a.width;
    const dense = (role: string, fanIn: number, fanOut: number): ParamSpec => ({
      role,
      shape: [fanIn, fanOut],
      init: { kind: "xavier-uniform", fanIn, fanOut },
      layout: "linear",
    });
    const bias = (role: string, n: number): ParamSpec[] => (a.qkvBias ? [zerosVector(role, n)] : []);
    const rows = biasTableRows(a.window);
    const out: ParamSpec[] = [dense("qkv.weight", c, 3 * c), ...bias("qkv.bias", 3 * c)];
    if (a.mode === "tmsa") {
      out.push(dense("qkv_temb.weight", a.timeWidth, 3 * c), ...bias("qkv_temb.bias", 3 * c));
    }
    if (a.mode === "time-in-bias") {
      // Table 6 F: the time token yields a per-sample correction of the whole bias table.
      out.push(
        dense("temb_bias.weight", a.timeWidth, rows * a.heads),
        zerosVector("temb_bias.bias", rows * a.heads),
      );
    }
    if (a.relativePositionBias) {
      out.push({
        role: "relative_position_bias_table",
        shape: [rows, a.heads],
        init: { kind: "trunc-normal", std: 0.02 },
        layout: "table",
      });
    }
    out.push(dense("proj.weight", c, c), zerosVector("proj.bias", c));
    return out;
  },
  macs(a, [x]) {
    const tokens = Number(x?.shape[1]) * Number(x?.shape[2]);
    const c = a.width;
    const temporal =
      a.mode === "tmsa"
        ? a.timeWidth * 3 * c
        : a.mode === "time-in-bias"
          ? a.timeWidth * biasTableRows(a.window) * a.heads
          : 0;
    // QKᵀ and AV: each token meets the w² tokens of its window, over all C = heads·d channels.
    return { linear: tokens * 4 * c * c + temporal, attention: 2 * tokens * a.window * a.window * c };
  },
};

export const ATTENTION_DEFS = {
  "window-attention": windowAttention,
} satisfies { [K in AttentionOp]: OpDef<K> };

export const ATTENTION_PRIMITIVES = {
  /** TMSA: inputs [tokens, time token]. */
  "window-attention": { name: "windowAttention" },
} as const satisfies { [K in AttentionOp]: PrimitiveName };

/**
 * Swin relative-position index for a w×w window with row-major token order:
 *   idx(i, j) = (Δrow + w − 1)·(2w − 1) + (Δcol + w − 1),  Δ = position(i) − position(j).
 * A derivable constant: emitters compute it, checkpoints never need to carry it.
 */
export function relativePositionIndex(window: number): Int32Array {
  const tokens = window * window;
  const span = 2 * window - 1;
  const out = new Int32Array(tokens * tokens);
  for (let i = 0; i < tokens; i++) {
    const ri = Math.floor(i / window);
    const ci = i % window;
    for (let j = 0; j < tokens; j++) {
      const rj = Math.floor(j / window);
      const cj = j % window;
      out[i * tokens + j] = (ri - rj + window - 1) * span + (ci - cj + window - 1);
    }
  }
  return out;
}
