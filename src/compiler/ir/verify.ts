// Structural checks of a Graph: topological order, input references, unique parameter names,
// and every output type re-inferred from the op registry. Run in tests after every build.
import { inferNode } from "../ops/index.ts";
import type { Graph } from "./types.ts";

export function verifyGraph(g: Graph): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  g.nodes.forEach((n, i) => {
    if (n.id !== i) problems.push(`node ${n.name} has id ${n.id} at position ${i}`);
    for (const id of n.inputs)
      if (id >= i) problems.push(`node ${n.name} reads node ${id}, which is not before it`);
    if (n.op === "input") return;
    const inputs = n.inputs.map((id) => g.nodes[id]?.out).filter((t) => t !== undefined);
    const again = inferNode(n, inputs);
    if (typeof again === "string") problems.push(`${n.name}: ${again}`);
    else if (JSON.stringify(again) !== JSON.stringify(n.out))
      problems.push(`${n.name}: stored type differs from inferred`);
  });
  for (const p of g.params) {
    if (names.has(p.name)) problems.push(`duplicate parameter ${p.name}`);
    names.add(p.name);
    if (p.shape.some((d) => !Number.isInteger(d) || d <= 0))
      problems.push(`parameter ${p.name} has shape [${p.shape}]`);
    if (!g.nodes[p.node]) problems.push(`parameter ${p.name} belongs to no node`);
  }
  for (const [name, id] of Object.entries(g.outputs))
    if (!g.nodes[id]) problems.push(`output ${name} is not a node`);
  return problems;
}
