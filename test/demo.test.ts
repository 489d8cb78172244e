// `npm run demo` end to end on the embedded default: report, fine-tune from the committed checkpoint,
// ONNX export with parity, and a class-conditional grid, each output named in what it prints.
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli.ts";

describe("diffit demo", () => {
  it("runs every stage and writes a grid with one row per class", async () => {
    const out = mkdtempSync(join(tmpdir(), "diffit-demo-"));
    const lines: string[] = [];
    const code = await main(["node", "diffit", "demo", "--minutes", "0.05", "--out", out], {
      out: (t) => lines.push(t),
      err: (t) => lines.push(t),
    });
    const text = lines.join("\n");
    expect(code).toBe(0);
    expect(text).toContain("fine-tuning checkpoints/tiny-fmnist.safetensors");
    expect(text).toContain("engine: onnx");
    expect(text).toMatch(/batch 3: max abs error \d/);
    const grid = join(out, "samples.png");
    expect(existsSync(grid)).toBe(true);
    expect(text).toContain(grid);
    // One row of 8 samples per class: 32×32 tiles with 2-pixel gutters.
    const png = PNG.sync.read(readFileSync(grid));
    expect([png.width, png.height]).toEqual([8 * 34 + 2, 10 * 34 + 2]);
  });
});
