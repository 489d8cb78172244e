// Reverse-mode differentiation of a tensor-tier graph under construction: walks the forward
// nodes backwards from a scalar loss, asks each node's VJP rule (written in tensor ops) for its
// input gradients, and sums the contributions a value receives from its several uses (one Sum
// node). The result is more tensor IR in the same graph. Only values that depend on a `wrt`
// value are differentiated, so data inputs and constants cost nothing.
import type { TensorGraph } from "../tensor/graph.ts";
import type { TensorNode, TensorOpKind } from "../tensor/ops.ts";
import { vjpOf } from "./rules/index.ts";
import type { Grad, Slot, VjpContext } from "./vjp.ts";

/** Slots as one dense gradient: a Concat when they fill the axis exactly, else padded each. */
function joinSlots(b: TensorGraph, slots: readonly Slot[], hint: string): string[] {
  const [first] = slots;
  if (!first) return [];
  const size = first.dims[first.axis] ?? 1;
  const indices = new Set(slots.map((s) => s.index));
  const sameAxis = slots.every((s) => s.axis === first.axis);
  if (sameAxis && indices.size === slots.length && slots.length === size) {
    const ordered = [...slots].sort((p, q) => p.index - q.index);
    const lifted = ordered.map((s, i) => b.op("Unsqueeze", [s.slot, b.ints([s.axis])], `${hint}/slot${i}`));
    return [b.op("Concat", lifted, `${hint}/slots`, { axis: first.axis })];
  }
  return slots.map((s, i) => {
    const pads = new Array<number>(2 * s.dims.length).fill(0);
    pads[s.axis] = s.index;
    pads[s.axis + s.dims.length] = (s.dims[s.axis] ?? 1) - 1 - s.index;
    const lifted = b.op("Unsqueeze", [s.slot, b.ints([s.axis])], `${hint}/slot${i}`);
    return b.op("Pad", [lifted, b.ints(pads)], `${hint}/pad${i}`);
  });
}

export interface BackwardResult {
  /** Gradient value of each `wrt` name (a zero constant where the loss does not depend on it). */
  grads: Map<string, string>;
  /** The ops whose VJP rules built the backward pass. */
  differentiated: Set<TensorOpKind>;
}

/** Values computed from any of `wrt`, in the order of the forward nodes; `frozen` values stop it. */
function dependents(
  nodes: readonly TensorNode[],
  wrt: Iterable<string>,
  frozen: ReadonlySet<string>,
): Set<string> {
  const live = new Set(wrt);
  for (const n of nodes) {
    if (n.inputs.some((i) => live.has(i))) for (const o of n.outputs) if (!frozen.has(o)) live.add(o);
  }
  return live;
}

/**
 * Appends the backward pass of `loss` (a scalar value) to `b` and returns d loss / d w for each
 * value name in `wrt` (graph inputs, or values computed from them only).
 */
export function appendBackward(
  b: TensorGraph,
  loss: string,
  wrt: readonly string[],
  /** Stop-gradient: values treated as constants (e.g. ADM's ε̂ inside its VB term). */
  frozen: ReadonlySet<string> = new Set(),
): BackwardResult {
  const forward = [...b.nodes];
  const ctx: VjpContext = { b };
  const differentiated = new Set<TensorOpKind>();
  const live = dependents(forward, wrt, frozen);
  const parts = new Map<string, Grad[]>([[loss, [b.constant([1], [])]]]);
  const totals = new Map<string, string>();
  const total = (name: string): string | undefined => {
    const known = totals.get(name);
    if (known) return known;
    const all = parts.get(name);
    if (!all || all.length === 0) return undefined;
    const dense = all.filter((g): g is string => typeof g === "string");
    const ps = [
      ...dense,
      ...joinSlots(
        b,
        all.filter((g): g is Slot => typeof g !== "string"),
        `${name}/grad`,
      ),
    ];
    const sum = ps.length === 1 ? (ps[0] ?? "") : b.op("Sum", ps, `${name}/grad_sum`);
    totals.set(name, sum);
    return sum;
  };
  for (const node of forward.reverse()) {
    const grads = node.outputs.map(total);
    if (grads.every((g) => g === undefined)) continue;
    const needs = node.inputs.map((i) => live.has(i));
    if (!needs.some(Boolean)) continue;
    const ins = vjpOf(node, grads, needs, ctx);
    differentiated.add(node.op);
    node.inputs.forEach((name, i) => {
      const g = ins[i];
      if (!needs[i] || g === undefined) return;
      const list = parts.get(name) ?? [];
      list.push(g);
      parts.set(name, list);
    });
  }
  const out = new Map<string, string>();
  for (const w of wrt) {
    const g = total(w);
    const dims = b.dims(w);
    out.set(w, g ?? b.constant(new Array(dims.reduce((a, d) => a * d, 1)).fill(0), [...dims]));
  }
  return { grads: out, differentiated };
}
