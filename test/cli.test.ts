// The CLI's contract: exit codes 0 ok / 1 invalid spec / 2 usage, --json everywhere,
// and diagnostics rendered as file:line:column path: message (hint).
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli.ts";
import { scratchDir } from "./helpers/temp.ts";

async function run(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(["node", "diffit", ...args], { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join(""), err: err.join("") };
}

describe("diffit CLI", () => {
  it("validate: 0 for valid specs, with the resolved names", async () => {
    const r = await run("validate", "specs/tiny-fmnist.json", "specs/diffit-cifar10-table6.json");
    expect(r.code).toBe(0);
    expect(r.out).toContain("✓ specs/tiny-fmnist.json: 1 spec(s) valid");
    expect(r.out).toContain("5 spec(s) valid");
  });

  it("validate: 1 for an invalid spec, each error as file:line:column path: message", async () => {
    const r = await run("validate", "test/fixtures/compose/bad-base.json");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^test\/fixtures\/compose\/bad-base\.json:6:\d+ stages\[0\]\.windowSize: windowSize 5 does not divide/m,
    );
  });

  it("validate --json: structured diagnostics", async () => {
    const r = await run("validate", "--json", "test/fixtures/compose/bad-base.json");
    expect(r.code).toBe(1);
    const [first] = JSON.parse(r.out) as { ok: boolean; diagnostics: { code: string; path: unknown[] }[] }[];
    expect(first?.ok).toBe(false);
    expect(first?.diagnostics[0]).toMatchObject({ code: "DF303", path: ["stages", 0, "windowSize"] });
  });

  it("resolve --json: every default filled in, variants expanded", async () => {
    const r = await run("resolve", "--json", "specs/diffit-cifar10-table6.json");
    expect(r.code).toBe(0);
    const list = JSON.parse(r.out) as { name: string; hash: string; spec: { attention: { mode: string } } }[];
    expect(list.map((e) => e.spec.attention.mode)).toEqual([
      "time-in-bias",
      "time-in-mlp",
      "tmsa",
      "adaln",
      "tmsa",
    ]);
    expect(list.every((e) => /^[0-9a-f]{16}$/.test(e.hash))).toBe(true);
  });

  it("inspect: a table with totals; --json with rows and totals", async () => {
    const text = await run("inspect", "specs/tiny-fmnist.json", "--depth", "1");
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/MACs linear\/conv {2}\S+ per sample/);
    const json = await run("inspect", "--json", "specs/latent-diffit-imagenet256.json");
    const [report] = JSON.parse(json.out) as { totals: { params: number }; rows: unknown[] }[];
    expect(report?.totals.params).toBe(561330144);
    expect(report?.rows.length).toBeGreaterThan(28 * 8);
  });

  it("schema: the committed schema/diffit-spec.schema.json is current", async () => {
    const r = await run("schema");
    expect(r.code).toBe(0);
    expect(r.out).toBe(readFileSync("schema/diffit-spec.schema.json", "utf8"));
  });

  it("schema --reference: the committed docs/spec-reference.md is current", async () => {
    const r = await run("schema", "--reference");
    expect(r.out).toBe(readFileSync("docs/spec-reference.md", "utf8"));
    expect(r.out).toContain("| `stages[].windowSize` | integer (> 0, ≤ 1024) | required |");
  });

  it("exits 2 on usage errors and 0 on --help", async () => {
    expect((await run("frobnicate")).code).toBe(2);
    expect((await run("validate")).code).toBe(2);
    expect((await run("inspect", "specs/tiny-fmnist.json", "--depth", "zero")).code).toBe(2);
    // Replicas split the batch evenly or not at all; refused before any data is read.
    const uneven = await run(
      "train",
      "specs/tiny-fmnist.json",
      "--batch",
      "6",
      "--replicas",
      "4",
      "--out",
      join(tmpdir(), `diffit-cli-replicas-${process.pid}`),
    );
    expect(uneven.code).toBe(2);
    expect(uneven.err).toContain("--replicas must be a whole number that divides the batch (6), got 4");
    const tfjsReplicas = await run(
      "train",
      "specs/tiny-fmnist.json",
      "--engine",
      "tfjs",
      "--replicas",
      "2",
      "--out",
      join(tmpdir(), `diffit-cli-tfjs-replicas-${process.pid}`),
    );
    expect(tfjsReplicas.code).toBe(2);
    expect(tfjsReplicas.err).toContain("--replicas applies to the ONNX engine only");
    const conditionalN = await run(
      "sample",
      "specs/tiny-fmnist.json",
      "--checkpoint",
      "checkpoints/tiny-fmnist.safetensors",
      "-n",
      "4",
    );
    expect(conditionalN.code).toBe(2);
    expect(conditionalN.err).toContain("tiny-fmnist is class-conditional: give --per-class N");
    expect((await run("--help")).code).toBe(0);
    expect((await run("inspect", "--help")).code).toBe(0);
  });

  it("sample: an EDM checkpoint runs on ONNX Runtime by default, its temporary export removed", async () => {
    const scratch = scratchDir("cli-sample");
    const before = process.env.TMPDIR;
    process.env.TMPDIR = scratch; // where the on-the-fly export goes
    try {
      const r = await run(
        "sample",
        "specs/tiny-fmnist.json",
        "--checkpoint",
        "checkpoints/tiny-fmnist.safetensors",
        "--steps",
        "2",
        "--per-class",
        "1",
        "-o",
        join(scratch, "grid.png"),
        "--json",
      );
      expect(r.code, r.err).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ engine: "onnx", samples: 10, nfe: 3 });
      expect(readdirSync(scratch).filter((f) => f.startsWith("diffit-export-"))).toEqual([]);
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
  });

  it("verify: names a checkpoint other than the one the file was exported from", async () => {
    const scratch = scratchDir("cli-verify");
    const model = join(scratch, "tiny.onnx");
    const seeded = join(scratch, "seeded.safetensors");
    const trained = "checkpoints/tiny-fmnist.safetensors";
    expect((await run("export", "specs/tiny-fmnist.json", "--checkpoint", trained, "-o", model)).code).toBe(
      0,
    );
    expect((await run("build", "specs/tiny-fmnist.json", "-o", seeded)).code).toBe(0);
    const right = await run("verify", model, "--checkpoint", trained);
    expect(right.code).toBe(0);
    expect(right.err).not.toContain("other weights");
    const wrong = await run("verify", model, "--checkpoint", seeded);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain(`${seeded} holds other weights than ${model} was exported from`);
  }, 60_000);

  it("exits 1 for a missing file, naming it", async () => {
    const r = await run("validate", "specs/nope.json");
    expect(r.code).toBe(1);
    expect(r.err).toContain("specs/nope.json does not exist; check the spec path");
  });
});
