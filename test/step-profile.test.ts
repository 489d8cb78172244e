// The bench's reading of onnxruntime profiles (bench/step-profile.ts): the dense/other split it
// reports must come from the last run only and sort kernels by their op type.
import { describe, expect, it } from "vitest";
import { kernelSplit } from "../bench/step-profile.ts";

const kernel = (op: string, ts: number, dur: number) => ({
  cat: "Node",
  name: `n${ts}/${op}_kernel_time`,
  ts,
  dur,
  args: { op_name: op },
});

describe("kernelSplit", () => {
  it("splits the last run's kernel time into dense ops and the rest", () => {
    const events = [
      { cat: "Session", name: "model_run", ts: 0, dur: 100 },
      kernel("Conv", 10, 50), // an earlier run: ignored
      { cat: "Session", name: "model_run", ts: 1000, dur: 9000 },
      kernel("FusedMatMul", 1100, 3000),
      kernel("Gemm", 4200, 2000),
      kernel("Transpose", 6300, 1500),
      kernel("Mul", 7900, 500),
      { cat: "Node", name: "n/Mul_fence_before", ts: 8500, dur: 700, args: { op_name: "Mul" } },
    ];
    expect(kernelSplit(events)).toEqual({ runMs: 9, denseMs: 5, denseNodes: 2, otherMs: 2, otherNodes: 2 });
  });

  it("refuses a profile without a run", () => {
    expect(() => kernelSplit([kernel("Conv", 0, 1)])).toThrow(/no run/);
  });
});
