// A stable textual form of the IR, one line per node, for golden files and `--dump-ir`-style
// debugging: a change to the builder or a shape rule is a reviewable line diff.
//   %12 blocks.0.attn = window-attention(%10, %5) {width: 64, heads: 4, ...} -> [N, 8, 8, 64]
//       params qkv.weight [64, 192] linear …
import { formatShape, type Graph } from "./types.ts";

function attrText(attrs: object): string {
  const parts = Object.entries(attrs).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  return parts.length > 0 ? ` {${parts.join(", ")}}` : "";
}

export function printGraph(g: Graph): string {
  const byName = new Map(g.params.map((p) => [p.name, p]));
  const lines = [`graph ${g.name} (${g.family})`];
  for (const [role, id] of Object.entries(g.inputs))
    if (id !== undefined) lines.push(`input ${role} = %${id}`);
  for (const n of g.nodes) {
    const ins = n.inputs.map((i) => `%${i}`).join(", ");
    lines.push(
      `%${n.id} ${n.name} = ${n.op}(${ins})${attrText(n.attrs)} -> ${formatShape(n.out.shape)} ${n.out.dtype}`,
    );
    for (const [role, name] of Object.entries(n.params)) {
      const p = byName.get(name);
      const shape = p ? formatShape(p.shape) : "?";
      const init = p ? `${p.init.kind}${p.trainable ? "" : " fixed"}` : "?";
      lines.push(`    ${role}: ${name} ${shape} ${init}`);
    }
  }
  for (const [role, id] of Object.entries(g.outputs)) lines.push(`output ${role} = %${id}`);
  return `${lines.join("\n")}\n`;
}
