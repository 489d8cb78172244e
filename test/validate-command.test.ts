// `diffit validate a b c` reports each file as soon as it is done, and an internal failure on
// one file (a bug, simulated here) is that file's DF100 error: the other files are still
// validated and reported, in text and in --json.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { main } from "../src/cli.ts";

vi.mock("../src/compiler/pipeline.ts", async (importOriginal) => {
  const real = await importOriginal<typeof import("../src/compiler/pipeline.ts")>();
  return {
    ...real,
    runFrontEnd: (file: string, options?: Parameters<typeof real.runFrontEnd>[1]) => {
      if (file.endsWith("boom.json")) throw new TypeError("simulated bug");
      return real.runFrontEnd(file, options);
    },
  };
});

const dir = mkdtempSync(join(tmpdir(), "diffit-validate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spec = (name: string) =>
  JSON.stringify({
    family: "image",
    name,
    input: { size: 32, channels: 1 },
    stages: [{ channels: 16, depth: 1, windowSize: 4, heads: 2 }],
    time: { sinusoidDim: 32, tokenDim: 64 },
  });

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function run(args: string[], onOut: (text: string) => void = () => {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(["node", "diffit", "validate", ...args], {
    out: (t) => {
      out.push(t);
      onOut(t);
    },
    err: (t) => err.push(t),
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("validate", () => {
  it("prints a file's result before it reads the next file", async () => {
    const first = write("first.json", spec("first"));
    const second = write("second.json", "{ not yet a spec");
    // The second file becomes valid only once the first file's result has been printed.
    const r = await run([first, second], (t) => {
      if (t.includes("first.json")) writeFileSync(second, spec("second"));
    });
    expect(r.out).toMatch(/✓ [^\n]*first\.json[^\n]*\n✓ [^\n]*second\.json/);
    expect(r.code).toBe(0);
  });

  it("turns an internal failure into that file's error and goes on with the others", async () => {
    const files = [write("a.json", spec("a")), write("boom.json", spec("boom")), write("b.json", spec("b"))];
    const r = await run(files);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/✓ [^\n]*a\.json[^\n]*\n✗ [^\n]*boom\.json: 1 error\(s\)\n✓ [^\n]*b\.json/);
    expect(r.err).toMatch(
      /boom\.json:1:1 \(root\): diffit failed while checking this file \(TypeError: simulated bug\) \(this is a bug in diffit: please report it with the file\) \[DF100\]/,
    );
  });

  it("isolates an internal failure in --json too", async () => {
    const files = [write("c.json", spec("c")), write("boom.json", spec("boom"))];
    const r = await run(["--json", ...files]);
    expect(r.code).toBe(1);
    const results = JSON.parse(r.out) as { file: string; ok: boolean; diagnostics: { code: string }[] }[];
    expect(results.map((x) => [x.ok, x.diagnostics.map((d) => d.code)])).toEqual([
      [true, []],
      [false, ["DF100"]],
    ]);
  });
});
