// The ONNX renderer folds each alias's Identity into the node that computes the value (an
// Identity is a copy in onnxruntime), and the rendered graph must still compute the same outputs.
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { renderGraph } from "../src/compiler/emit/onnx/render.ts";
import { TensorGraph } from "../src/compiler/tensor/graph.ts";
import { encodeRendered } from "./helpers/onnx-model.ts";

describe("renderGraph alias folding", () => {
  it("writes an alias at its producer, keeps Identity for inputs and second aliases, and computes the same outputs", async () => {
    const b = new TensorGraph();
    const x = b.input("x", [3]);
    const sq = b.op("Mul", [x, x], "sq");
    b.alias(sq, "out");
    b.alias(sq, "out_again");
    b.alias(x, "x_out");
    b.alias(b.op("Add", [sq, b.scalar(1)], "sq_plus_one"), "plus");

    const { nodes, initializers } = renderGraph(b, 17);
    const producer = (name: string) => nodes.find((n) => n.output?.includes(name));
    expect(producer("out")?.opType).toBe("Mul");
    expect(producer("plus")?.opType).toBe("Add");
    expect(producer("plus")?.input).toContain("out"); // the reader of sq now reads the alias
    expect(producer("out_again")).toMatchObject({ opType: "Identity", input: ["out"] });
    expect(producer("x_out")).toMatchObject({ opType: "Identity", input: ["x"] });
    expect(nodes.filter((n) => n.opType === "Identity")).toHaveLength(2);

    const outputs = ["out", "out_again", "x_out", "plus"];
    const bytes = encodeRendered(
      "aliases",
      { nodes, initializers },
      [["x", [3]]],
      outputs.map((o) => [o, [3]]),
    );
    const session = await ort.InferenceSession.create(bytes);
    const got = await session.run({ x: new ort.Tensor("float32", Float32Array.of(1, -2, 3), [3]) });
    await session.release();
    const values = (name: string) => Array.from(got[name]?.data as Float32Array);
    expect(values("out")).toEqual([1, 4, 9]);
    expect(values("out_again")).toEqual([1, 4, 9]);
    expect(values("x_out")).toEqual([1, -2, 3]);
    expect(values("plus")).toEqual([2, 5, 10]);
  });
});
