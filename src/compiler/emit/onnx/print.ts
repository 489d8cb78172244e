// A stable textual form of an emitted ONNX graph, for golden files: graph inputs and outputs,
// each initializer's name, type and dims (not its values), then one line per node in order.
// A change to a lowering is a reviewable line diff.
import type { EmittedModel } from "./emit.ts";
import type { AttributeProto, ValueInfoProto } from "./proto.ts";

const TYPE_NAMES: Record<number, string> = { 1: "float32", 6: "int32", 7: "int64", 10: "float16" };

function dimsOf(v: ValueInfoProto): string {
  const dims = v.type?.tensorType?.shape?.dim ?? [];
  return `[${dims.map((d) => d.dimParam || String(d.dimValue ?? "?")).join(", ")}]`;
}

function attrValue(a: AttributeProto): string {
  if (a.ints && a.ints.length > 0) return `[${a.ints.map(String).join(", ")}]`;
  if (a.floats && a.floats.length > 0) return `[${a.floats.join(", ")}]`;
  if (a.s && a.s.length > 0) return JSON.stringify(Buffer.from(a.s).toString());
  if (a.t) return `tensor${JSON.stringify(a.t.dims?.map(String) ?? [])}`;
  if (a.f !== undefined && a.f !== null && a.type === 1) return String(a.f);
  return String(a.i ?? "");
}

export function printOnnx(e: EmittedModel): string {
  const g = e.model.graph;
  const lines = [`graph ${g?.name ?? ""} opset ${e.model.opsetImport?.[0]?.version ?? "?"}`];
  for (const v of g?.input ?? []) {
    lines.push(`input ${v.name} ${TYPE_NAMES[v.type?.tensorType?.elemType ?? 0] ?? "?"} ${dimsOf(v)}`);
  }
  for (const i of e.initializers)
    lines.push(`init ${i.name} ${TYPE_NAMES[i.dataType] ?? "?"} [${i.dims.join(", ")}]`);
  for (const n of g?.node ?? []) {
    const attrs = (n.attribute ?? []).map((a) => `${a.name}=${attrValue(a)}`).join(", ");
    lines.push(
      `${(n.output ?? []).join(", ")} = ${n.opType}(${(n.input ?? []).join(", ")})${attrs ? ` {${attrs}}` : ""}`,
    );
  }
  for (const v of g?.output ?? []) lines.push(`output ${v.name} ${dimsOf(v)}`);
  return `${lines.join("\n")}\n`;
}
