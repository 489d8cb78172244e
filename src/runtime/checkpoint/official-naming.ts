// The official latent DiffiT state_dict (DIFFIT.md §8) ↔ this project's parameters. The latent
// IR already uses the official names, so the map is about layout: PyTorch Linear weights are
// (out, in) and ours [in, out]; Conv2d weights are OIHW and ours [kh, kw, in, out]; pos_embed
// carries a leading batch axis of 1. The official file also holds derivable buffers
// (relative_position_index, the sin-cos pos_embed): import checks them against the values this
// project computes, so a checkpoint built with another convention fails loudly instead of
// loading into a model that silently computes something else.

import type { Graph, Node, ParamDef } from "../../compiler/ir/types.ts";
import { relativePositionIndex } from "../../compiler/ops/attention/def.ts";
import { paramLayout } from "../../compiler/ops/index.ts";
import { inversePerm, layoutRule, permute } from "../../compiler/ops/param-layout.ts";
import { InputError, UsageError } from "../../errors.ts";
import { initialValues } from "../init.ts";
import type { DType, StoredTensor } from "./safetensors.ts";

/**
 * How a project parameter is stored in the official state_dict, from its layout kind
 * (PARAM_LAYOUTS): permuted to PyTorch's axis order, or with DiT's leading batch axis.
 */
type Layout = { kind: "permuted"; perm: readonly number[] } | { kind: "batched" } | { kind: "same" };

interface OfficialParam {
  param: ParamDef;
  official: string;
  officialShape: number[];
  layout: Layout;
  /** Fixed tables the project computes itself: checked on import, not trusted. */
  derived: boolean;
}

/** A derivable buffer that only the official file stores (the project recomputes it). */
interface OfficialBuffer {
  official: string;
  shape: number[];
  values: Int32Array;
}

/** One reason a file does not fit the spec; a value, rendered to text only by the CLI. */
export interface ImportProblem {
  kind: "missing" | "unexpected" | "shape" | "dtype" | "derived";
  /** The official state_dict key. */
  key: string;
  message: string;
  /** PyTorch shapes: what the file holds and what the spec needs. */
  found?: number[];
  expected?: number[];
}

export class OfficialCheckpointError extends InputError {
  constructor(
    readonly source: string,
    readonly problems: ImportProblem[],
    readonly hints: string[],
  ) {
    super(
      `${source} does not fit the spec as an official DiffiT state_dict (${problems.length} problem(s)):\n${problems
        .map((p) => `  ${p.message}`)
        .join("\n")}${hints.map((h) => `\n  hint: ${h}`).join("")}`,
    );
  }
}

const tuple = (shape: readonly number[]) => `(${shape.join(", ")}${shape.length === 1 ? "," : ""})`;

function roleOf(node: Node, name: string): string {
  for (const [role, full] of Object.entries(node.params)) if (full === name) return role;
  throw new Error(`${node.name} does not own ${name}`);
}

function layoutOf(node: Node | undefined, p: ParamDef): Layout {
  if (!node) throw new Error(`no node owns ${p.name}`);
  const rule = layoutRule(paramLayout(node, roleOf(node, p.name)));
  if (rule.torch) return { kind: "permuted", perm: rule.torch };
  return rule.officialBatchAxis ? { kind: "batched" } : { kind: "same" };
}

function officialShape(shape: readonly number[], layout: Layout): number[] {
  if (layout.kind === "permuted") return layout.perm.map((i) => shape[i] ?? 0);
  if (layout.kind === "batched") return [1, ...shape];
  return [...shape];
}

function officialPlan(graph: Graph): { params: OfficialParam[]; buffers: OfficialBuffer[] } {
  if (graph.family !== "latent")
    throw new UsageError(
      `official checkpoints exist for the latent DiffiT only; ${graph.name} is an image-space spec`,
    );
  const params = graph.params.map((p): OfficialParam => {
    const layout = layoutOf(graph.nodes[p.node], p);
    return {
      param: p,
      official: p.name,
      officialShape: officialShape(p.shape, layout),
      layout,
      derived: p.init.kind === "sincos-2d",
    };
  });
  const buffers: OfficialBuffer[] = [];
  for (const n of graph.nodes) {
    if (n.op !== "window-attention" || !n.attrs.relativePositionBias) continue;
    const tokens = n.attrs.window ** 2;
    buffers.push({
      official: `${n.name}.relative_position_index`,
      shape: [tokens, tokens],
      values: relativePositionIndex(n.attrs.window),
    });
  }
  return { params, buffers };
}

/** Every key of the official state_dict for a latent graph, with its PyTorch shape and dtype. */
export function officialKeys(graph: Graph): { name: string; shape: number[]; dtype: DType }[] {
  const { params, buffers } = officialPlan(graph);
  return [
    ...params.map((p) => ({ name: p.official, shape: p.officialShape, dtype: "F32" as const })),
    ...buffers.map((b) => ({ name: b.official, shape: b.shape, dtype: "I64" as const })),
  ];
}

// ---- numeric conversions ----

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Float values of a stored float tensor (float16 and bfloat16 widen exactly to float32). */
function floats(t: StoredTensor): Float32Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (t.dtype === "F32") {
    new Uint8Array(out.buffer).set(t.bytes);
    return out;
  }
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  if (t.dtype === "F16") for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  else {
    // bfloat16 is the top half of a float32.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16;
  }
  return out;
}

function integers(t: StoredTensor): Float64Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++)
    out[i] = t.dtype === "I64" ? Number(view.getBigInt64(8 * i, true)) : view.getInt32(4 * i, true);
  return out;
}

/** Largest rounding error a stored float type introduces on the sin-cos table's values (|v| ≤ 1). */
const TABLE_TOLERANCE: Partial<Record<DType, number>> = { F32: 1e-5, F16: 1e-3, BF16: 8e-3 };

function toProject(values: Float32Array, op: OfficialParam): Float32Array {
  return op.layout.kind === "permuted"
    ? permute(values, op.officialShape, inversePerm(op.layout.perm))
    : values;
}

function toOfficialLayout(values: Float32Array, op: OfficialParam): Float32Array {
  return op.layout.kind === "permuted" ? permute(values, op.param.shape, op.layout.perm) : values;
}

// ---- hints ----

/** Guesses at why names or shapes differ: another depth, width, class count or a name prefix. */
function hintsFor(tensors: Map<string, StoredTensor>, graph: Graph, plan: OfficialParam[]): string[] {
  const hints: string[] = [];
  const names = [...tensors.keys()];
  const expected = new Set(plan.map((p) => p.official));
  if (!names.some((n) => expected.has(n))) {
    const first = [...new Set(names.map((n) => n.split(".")[0] ?? n))];
    const fits = first.find((f) =>
      names.some((n) => n.startsWith(`${f}.`) && expected.has(n.slice(f.length + 1))),
    );
    if (fits) hints.push(`the names carry a prefix: import with --key ${fits}`);
  }
  const blocks = new Set(names.map((n) => /^blocks\.(\d+)\./.exec(n)?.[1]).filter((b) => b !== undefined));
  const specBlocks = new Set(graph.params.map((p) => /^blocks\.(\d+)\./.exec(p.name)?.[1]).filter((b) => b));
  if (blocks.size > 0 && blocks.size !== specBlocks.size)
    hints.push(`the checkpoint has ${blocks.size} blocks, the spec depth is ${specBlocks.size}`);
  const hidden = tensors.get("x_embedder.proj.bias")?.shape[0];
  const specHidden = graph.params.find((p) => p.name === "x_embedder.proj.bias")?.shape[0];
  if (hidden !== undefined && specHidden !== undefined && hidden !== specHidden)
    hints.push(`the checkpoint's hidden size is ${hidden}, the spec's ${specHidden}`);
  const rows = tensors.get("y_embedder.embedding_table.weight")?.shape[0];
  const specRows = graph.params.find((p) => p.name === "y_embedder.embedding_table.weight")?.shape[0];
  if (rows !== undefined && specRows !== undefined && rows !== specRows)
    hints.push(
      `the checkpoint's label table has ${rows} rows (${rows - 1} classes + null), the spec ${specRows} (conditioning.classes ${specRows - 1})`,
    );
  const out = tensors.get("final_layer.linear.bias")?.shape[0];
  const specOut = graph.params.find((p) => p.name === "final_layer.linear.bias")?.shape[0];
  if (out !== undefined && specOut !== undefined && out !== specOut)
    hints.push(
      `the final layer has ${out} outputs, the spec ${specOut} (patch² × channels: check learnSigma and patchSize)`,
    );
  return hints;
}

// ---- import and export ----

export interface OfficialImport {
  weights: Map<string, Float32Array>;
  /** Count of tensors per stored dtype. */
  dtypes: Partial<Record<DType, number>>;
  /** Derivable buffers and tables that were checked against the project's own values. */
  checked: string[];
}

/** The problem of a checkpoint tensor whose shape is not the one the spec needs; undefined when it is. */
function shapeProblem(key: string, found: number[], expected: number[]): ImportProblem | undefined {
  if (found.join(",") === expected.join(",")) return undefined;
  return {
    kind: "shape",
    key,
    found,
    expected,
    message: `${key}: shape ${tuple(found)} in the checkpoint, the spec needs ${tuple(expected)}`,
  };
}

function firstDifference(got: ArrayLike<number>, want: ArrayLike<number>, tolerance: number): number {
  for (let i = 0; i < want.length; i++) {
    const g = got[i] ?? Number.NaN;
    const w = want[i] ?? 0;
    if (!(Math.abs(g - w) <= tolerance)) return i;
  }
  return -1;
}

/**
 * Maps an official state_dict onto the graph's parameters. Every problem (missing or unexpected
 * names, shapes, dtypes, derived buffers that differ) is collected and thrown at once.
 */
export function importOfficial(
  tensors: Map<string, StoredTensor>,
  graph: Graph,
  source: string,
): OfficialImport {
  const { params, buffers } = officialPlan(graph);
  const problems: ImportProblem[] = [];
  const weights = new Map<string, Float32Array>();
  const dtypes: Partial<Record<DType, number>> = {};
  const checked: string[] = [];
  const known = new Set([...params.map((p) => p.official), ...buffers.map((b) => b.official)]);

  for (const op of params) {
    const t = tensors.get(op.official);
    if (!t) {
      problems.push({
        kind: "missing",
        key: op.official,
        expected: op.officialShape,
        message: `missing ${op.official} ${tuple(op.officialShape)}`,
      });
      continue;
    }
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
    if (t.dtype !== "F32" && t.dtype !== "F16" && t.dtype !== "BF16") {
      problems.push({
        kind: "dtype",
        key: op.official,
        message: `${op.official}: dtype ${t.dtype}, expected a float type (F32, F16, BF16)`,
      });
      continue;
    }
    const wrongShape = shapeProblem(op.official, t.shape, op.officialShape);
    if (wrongShape) {
      problems.push(wrongShape);
      continue;
    }
    const values = toProject(floats(t), op);
    if (op.derived) {
      const own = initialValues(op.param, 0);
      const tolerance = TABLE_TOLERANCE[t.dtype] ?? 0;
      const i = firstDifference(values, own, tolerance);
      if (i >= 0) {
        problems.push({
          kind: "derived",
          key: op.official,
          message: `${op.official}: differs from the ${op.param.init.kind} table this project computes (element ${i}: ${values[i]} in the file, ${own[i]} expected); the checkpoint uses another position-embedding convention`,
        });
        continue;
      }
      checked.push(op.official);
    }
    weights.set(op.param.name, values);
  }

  for (const b of buffers) {
    const t = tensors.get(b.official);
    if (!t) {
      // A derivable buffer may be absent (e.g. saved with persistent=False): nothing is lost.
      continue;
    }
    if (t.dtype !== "I64" && t.dtype !== "I32") {
      problems.push({
        kind: "dtype",
        key: b.official,
        message: `${b.official}: dtype ${t.dtype}, expected an integer buffer (I64)`,
      });
      continue;
    }
    const wrongShape = shapeProblem(b.official, t.shape, b.shape);
    if (wrongShape) {
      problems.push(wrongShape);
      continue;
    }
    const i = firstDifference(integers(t), b.values, 0);
    if (i >= 0) {
      problems.push({
        kind: "derived",
        key: b.official,
        message: `${b.official}: differs from the Swin relative-position index this project computes (element ${i}); the checkpoint orders tokens or offsets differently`,
      });
      continue;
    }
    checked.push(b.official);
  }

  for (const [name, t] of tensors) {
    if (!known.has(name))
      problems.push({
        kind: "unexpected",
        key: name,
        found: t.shape,
        message: `unexpected ${name} ${tuple(t.shape)}: no parameter of the spec takes it`,
      });
  }
  if (problems.length > 0)
    throw new OfficialCheckpointError(source, problems, hintsFor(tensors, graph, params));
  return { weights, dtypes, checked };
}

/** The project's weights as an official state_dict: float32 parameters and int64 buffers. */
export function exportOfficial(weights: Map<string, Float32Array>, graph: Graph): Map<string, StoredTensor> {
  const { params, buffers } = officialPlan(graph);
  const out = new Map<string, StoredTensor>();
  for (const op of params) {
    const w = weights.get(op.param.name);
    if (!w) throw new InputError(`the checkpoint has no ${op.param.name}`);
    const v = toOfficialLayout(w, op);
    out.set(op.official, {
      dtype: "F32",
      shape: op.officialShape,
      bytes: new Uint8Array(v.buffer, v.byteOffset, v.byteLength),
    });
  }
  for (const b of buffers) {
    const v = BigInt64Array.from(b.values, (x) => BigInt(x));
    out.set(b.official, { dtype: "I64", shape: b.shape, bytes: new Uint8Array(v.buffer) });
  }
  return out;
}
