// `diffit export --triton REPO` writes a Triton model repository whose config.pbtxt passes a
// schema of Triton's ModelConfig written from its documentation (test/helpers/triton-schema.ts)
// and matches the exported ONNX file field by field: every input and output, its element type,
// and its dims after the batch dimension ([batch] values as dims [1] reshaped to []). The schema
// check itself fails on broken configurations, and the command refuses bad flags with exit 2.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli.ts";
import { onnx } from "../src/compiler/emit/onnx/proto.ts";
import { parsePbtxt } from "../src/runtime/deploy/pbtxt.ts";
import { writeTritonRepository } from "../src/runtime/deploy/triton-repository.ts";
import { type OnnxFile, readOnnxFile } from "../src/runtime/onnx/model-file.ts";
import { openSession } from "../src/runtime/onnx/session.ts";
import { entryOf } from "./helpers/entry.ts";
import { smallImage, smallLatent } from "./helpers/small-specs.ts";
import { scratchDir } from "./helpers/temp.ts";
import { configView, type ModelConfigView, ruleProblems, schemaProblems } from "./helpers/triton-schema.ts";

async function run(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(["node", "diffit", ...args], { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join(""), err: err.join("") };
}

/** Triton's type names of the ONNX element types these models use (its documentation's table). */
const TRITON_TYPE_OF: Record<string, string> = {
  FLOAT: "TYPE_FP32",
  INT64: "TYPE_INT64",
  FLOAT16: "TYPE_FP16",
};

/** How the configuration differs from the ONNX file it serves. */
function onnxProblems(c: ModelConfigView, file: OnnxFile): string[] {
  const problems: string[] = [];
  for (const [role, declared, actual] of [
    ["input", c.inputs, file.inputs],
    ["output", c.outputs, file.outputs],
  ] as const) {
    const names = (list: readonly { name: string }[]) => list.map((v) => v.name).sort();
    if (JSON.stringify(names(declared)) !== JSON.stringify(names(actual)))
      problems.push(`${role}s ${names(declared)} in the config, ${names(actual)} in the file`);
    for (const v of actual) {
      const t = declared.find((d) => d.name === v.name);
      if (!t) continue;
      const type = onnx.TensorProto.DataType[v.elemType ?? 0] ?? "";
      if (t.dataType !== TRITON_TYPE_OF[type])
        problems.push(`${role} ${v.name}: ${t.dataType} for ONNX ${type}`);
      const [batch, ...rest] = v.dims ?? [];
      if (c.maxBatchSize >= 1 && typeof batch !== "string")
        problems.push(`${role} ${v.name}: batched, but its first dim in the file is ${batch}, not symbolic`);
      const want = rest.map((d) => (typeof d === "number" ? d : -1));
      const [dims, reshape] = want.length === 0 ? [[1], []] : [want, undefined];
      if (
        JSON.stringify(t.dims) !== JSON.stringify(dims) ||
        JSON.stringify(t.reshape) !== JSON.stringify(reshape)
      )
        problems.push(
          `${role} ${v.name}: dims [${t.dims}] reshape ${JSON.stringify(t.reshape)} for file dims [${v.dims}]`,
        );
    }
  }
  return problems;
}

/** The repository's model `name`, checked: schema, rules, and agreement with its ONNX file. */
function checkModel(repo: string, name: string) {
  const text = readFileSync(join(repo, name, "config.pbtxt"), "utf8");
  const fields = parsePbtxt(text);
  expect(schemaProblems(fields)).toEqual([]);
  const c = configView(fields);
  expect(ruleProblems(c, name)).toEqual([]);
  // Triton's ONNX Runtime backend looks for 1/model.onnx: a file, or a folder holding model.onnx.
  const place = join(repo, name, "1", "model.onnx");
  const modelFile = statSync(place).isDirectory() ? join(place, "model.onnx") : place;
  const file = readOnnxFile(modelFile);
  expect(onnxProblems(c, file)).toEqual([]);
  return { c, file, modelFile, text };
}

describe("diffit export --triton", () => {
  it("tiny-fmnist (EDM, class-conditional): the EDM denoiser by default, a config that passes the schema", async () => {
    const repo = join(scratchDir("triton"), "models");
    const r = await run("export", "--triton", repo, "specs/tiny-fmnist.json", "--random-weights");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`tritonserver --model-repository=${repo}`);
    expect(readdirSync(repo)).toEqual(["tiny-fmnist"]); // the lock is gone
    expect(readdirSync(join(repo, "tiny-fmnist", "1"))).toEqual(["model.onnx"]);
    const { c, file } = checkModel(repo, "tiny-fmnist");
    expect(file.metadata["diffit.denoiser"]).toBe("edm");
    expect(c.inputs.map((t) => [t.name, t.dataType, t.dims, t.reshape])).toEqual([
      ["x", "TYPE_FP32", [1, 32, 32], undefined],
      ["sigma", "TYPE_FP32", [1], []],
      ["y", "TYPE_INT64", [1], []],
    ]);
    expect(c).toMatchObject({
      name: "tiny-fmnist",
      platform: "onnxruntime_onnx",
      backend: "onnxruntime",
      maxBatchSize: 64,
      dynamicBatching: { preferred: [], maxQueueDelay: 100 },
      instanceGroups: [{ kind: "KIND_CPU", count: 1, gpus: [] }],
    });
  }, 60_000);

  it("a DDPM latent model: the raw network (input t) by default, with the serving flags and --fp16 as given", async () => {
    const dir = scratchDir("triton");
    const spec = join(dir, "latent.json");
    writeFileSync(spec, JSON.stringify(smallLatent("adaln")));
    const repo = join(dir, "models");
    const flags =
      "--fp16 --name latent_v2 --max-batch-size 16 --preferred-batch-size 8,4,8 --max-queue-delay-us 0 --instance-kind gpu --instances 2";
    const r = await run("export", "--triton", repo, spec, "--random-weights", ...flags.split(" "));
    expect(r.code, r.err).toBe(0);
    const { c, file } = checkModel(repo, "latent_v2");
    expect(file.metadata).toMatchObject({ "diffit.denoiser": "raw", "diffit.weights": "float16" });
    // float16 weights, float32 inputs and outputs
    expect(c.inputs.map((t) => [t.name, t.dataType])).toEqual([
      ["x", "TYPE_FP32"],
      ["t", "TYPE_FP32"],
      ["y", "TYPE_INT64"],
    ]);
    expect(c.outputs[0]?.dims).toEqual([8, 8, 8]); // learned variance: 2 × 4 channels
    expect(c).toMatchObject({
      maxBatchSize: 16,
      dynamicBatching: { preferred: [4, 8], maxQueueDelay: 0 },
      instanceGroups: [{ kind: "KIND_GPU", count: 2 }],
    });
  }, 60_000);

  it("weights as external data go into a folder 1/model.onnx/ that onnxruntime loads; re-exports replace either layout", async () => {
    const repo = join(scratchDir("triton"), "models");
    const entry = entryOf({ ...smallImage("tmsa"), name: "uncond", conditioning: { classes: 0 } });
    const serving = {
      name: "uncond",
      maxBatchSize: 4,
      preferredBatchSizes: [],
      maxQueueDelayMicroseconds: 100,
      instanceKind: "cpu" as const,
      instanceCount: 1,
    };
    const write = (threshold?: number) =>
      writeTritonRepository(entry, repo, {
        opset: 17,
        fp16: false,
        denoiser: "edm",
        seed: 1,
        serving,
        ...(threshold !== undefined ? { threshold } : {}),
      });
    const big = write(1);
    expect(big.dataPath).toBe(join(repo, "uncond", "1", "model.onnx", "model.onnx.data"));
    expect(readdirSync(join(repo, "uncond", "1", "model.onnx")).sort()).toEqual([
      "model.onnx",
      "model.onnx.data",
    ]);
    const { c, modelFile } = checkModel(repo, "uncond");
    expect(c.inputs.map((t) => t.name)).toEqual(["x", "sigma"]); // unconditional: no y
    const session = await openSession(modelFile);
    await session.release();
    // Back to one file, and again: the folder is replaced by the file, nothing else is left.
    expect(write().dataPath).toBeUndefined();
    write();
    expect(readdirSync(join(repo, "uncond", "1"))).toEqual(["model.onnx"]);
    expect(statSync(join(repo, "uncond", "1", "model.onnx")).isFile()).toBe(true);
    checkModel(repo, "uncond");
  }, 60_000);

  it("the schema check fails on configurations Triton would refuse or misread", async () => {
    const repo = join(scratchDir("triton"), "models");
    expect((await run("export", "--triton", repo, "specs/tiny-fmnist.json", "--random-weights")).code).toBe(
      0,
    );
    const { text, file } = checkModel(repo, "tiny-fmnist");
    const problems = (broken: string) => {
      const fields = parsePbtxt(broken);
      const c = configView(fields);
      return [...schemaProblems(fields), ...ruleProblems(c, "tiny-fmnist"), ...onnxProblems(c, file)];
    };
    const cases: [string, string, RegExp][] = [
      ["TYPE_FP32", "TYPE_FLOAT", /TYPE_FLOAT is not one of/],
      [
        "max_batch_size: 64",
        "max_batch_size: 64\nmax_batch_size: 8",
        /max_batch_size .*not a repeated field/,
      ],
      ["max_batch_size: 64", "max_batch_size: 64\nbatch_size: 8", /batch_size .*no such field/],
      ["kind: KIND_CPU", "kind: KIND_CPU\n gpus: [ 0 ]", /KIND_CPU instance_group lists gpus/],
      [
        "max_queue_delay_microseconds: 100",
        "preferred_batch_size: [ 128 ]",
        /preferred_batch_size 128 is outside/,
      ],
      ['name: "tiny-fmnist"', 'name: "other"', /differs from its folder/],
      ["dims: [ 1 ]\n    reshape {\n      shape: [ ]\n    }", "dims: [ ]", /dims is empty/],
      ["dims: [ 1, 32, 32 ]", "dims: [ 1, 32, 16 ]", /input x: dims \[1,32,16\]/],
      ['name: "y"', 'name: "label"', /inputs label,sigma,x in the config, sigma,x,y in the file/],
    ];
    for (const [from, to, expected] of cases) {
      expect(text.includes(from), from).toBe(true);
      expect(problems(text.replace(from, to)).join("\n"), to).toMatch(expected);
    }
    // version_policy is a oneof: two choices at once are refused.
    expect(problems(text.replace("latest {", "all { }\n  latest {")).join("\n")).toMatch(
      /only one of latest/,
    );
  }, 60_000);

  it("refuses bad flags with exit 2 and a message naming the fix; a file in the way with exit 1", async () => {
    const dir = scratchDir("triton");
    const repo = join(dir, "models");
    const cases: [string[], RegExp][] = [
      [["--triton", repo, "-o", join(dir, "m.onnx")], /give --out <file> or --triton <repo>, not both/],
      [["--max-batch-size", "8"], /--max-batch-size configures a Triton model: give it with --triton/],
      [
        ["--triton", repo, "--preferred-batch-size", "128"],
        /--preferred-batch-size 128 is larger than --max-batch-size 64/,
      ],
      [["--triton", repo, "--preferred-batch-size", "4,x"], /positive integers separated by commas/],
      [["--triton", repo, "--name", "../up"], /--name "..\/up" cannot name a model folder/],
      [["--triton", repo, "--instance-kind", "tpu"], /--instance-kind must be cpu or gpu/],
    ];
    for (const [flags, message] of cases) {
      const r = await run("export", "specs/tiny-fmnist.json", "--random-weights", ...flags);
      expect(r.code, flags.join(" ")).toBe(2);
      expect(r.err).toMatch(message);
    }
    const ddpm = await run(
      "export",
      "--triton",
      repo,
      "specs/latent-diffit-imagenet256.json",
      "--random-weights",
      "--denoiser",
      "edm",
    );
    expect(ddpm.code).toBe(2);
    expect(ddpm.err).toMatch(/is a DDPM model: export its network with --denoiser raw/);
    expect(existsSync(repo)).toBe(false); // nothing written on refusal
    writeFileSync(join(dir, "file"), "");
    const inTheWay = await run(
      "export",
      "--triton",
      join(dir, "file"),
      "specs/tiny-fmnist.json",
      "--random-weights",
    );
    expect(inTheWay.code).toBe(1);
    expect(inTheWay.err).toContain(join(dir, "file"));
  }, 60_000);

  it("a repository another live diffit run is writing is refused (exit 2)", async () => {
    const repo = join(scratchDir("triton"), "models");
    mkdirSync(repo);
    const holder = {
      format: "diffit-lock/1",
      pid: process.ppid,
      host: hostname(),
      started: new Date().toISOString(),
      command: "diffit train",
    };
    writeFileSync(join(repo, "diffit.lock"), JSON.stringify(holder));
    const r = await run("export", "--triton", repo, "specs/tiny-fmnist.json", "--random-weights");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/is in use by another diffit run/);
    expect(readdirSync(repo)).toEqual(["diffit.lock"]);
  });
});
