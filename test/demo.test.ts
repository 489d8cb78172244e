// `npm run demo` end to end on the embedded default: report, fine-tune from the committed checkpoint,
// ONNX export with parity, and a class-conditional grid, each output named in what it prints.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli.ts";

describe("diffit demo", () => {
  it("runs every stage and writes a grid with one row per class", async () => {
    const out = mkdtempSync(join(tmpdir(), "diffit-demo-"));
    try {
      await runDemo(out);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

async function runDemo(out: string): Promise<void> {
  const lines: string[] = [];
  const code = await main(["node", "diffit", "demo", "--minutes", "0.05", "--out", out], {
    out: (t) => lines.push(t),
    err: (t) => lines.push(t),
  });
  const text = lines.join("\n");
  expect(code).toBe(0);
  expect(text).toContain("fine-tuning checkpoints/tiny-fmnist.safetensors");
  expect(text).toContain("engine: onnx");
  // ONNX Runtime and tfjs on the same weights agree to float32 rounding: below the 1e-4 that
  // `diffit verify` allows a float32 export, at both batch sizes the demo checks.
  const errors = [...text.matchAll(/batch (\d+): max abs error (\S+)/g)].map((m) => [
    Number(m[1]),
    Number(m[2]),
  ]);
  expect(errors.map(([batch]) => batch)).toEqual([1, 3]);
  for (const [, e] of errors) expect(e).toBeLessThan(1e-4);
  const grid = join(out, "samples.png");
  expect(existsSync(grid)).toBe(true);
  expect(text).toContain(grid);
  // One row of 8 samples per class: 32×32 tiles with 2-pixel gutters.
  const png = PNG.sync.read(readFileSync(grid));
  expect([png.width, png.height]).toEqual([8 * 34 + 2, 10 * 34 + 2]);
}
