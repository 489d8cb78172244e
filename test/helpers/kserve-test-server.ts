// A small KServe v2 server for tests, standing in for Triton (which cannot run here): it serves
// one model of a repository diffit wrote, as its config.pbtxt declares it (inputs [N, ...dims]
// with N ≤ max_batch_size, reshaped to the model's shape, outputs [N, ...dims]), running the
// ONNX file in onnxruntime-node, on 127.0.0.1 at an ephemeral port. Answers health, model
// metadata and readiness, and infer with JSON data; refusals are 400/404 with {"error": "…"}.
import { readFileSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { parsePbtxt } from "../../src/runtime/deploy/pbtxt.ts";
import { type ConfigTensor, configView, type ModelConfigView } from "./triton-schema.ts";

interface Tensor {
  name: string;
  datatype: string;
  shape: number[];
  data: number[];
}

export interface TestServer {
  url: string;
  config: ModelConfigView;
  session: ort.InferenceSession;
  /** Infer requests answered so far (with their batch sizes). */
  batches: number[];
  /** Rewrites each infer response before it is sent (to test a client against a broken server). */
  tamper?: (outputs: Tensor[]) => Tensor[];
  close(): Promise<void>;
}

const V2_TYPES: Record<string, string> = { TYPE_FP32: "FP32", TYPE_INT64: "INT64", TYPE_INT32: "INT32" };

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new Refusal(400, "failed to parse the request JSON buffer");
  }
}

const product = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** The model's input as ONNX Runtime takes it, after the checks Triton makes against the config. */
function feed(
  c: ModelConfigView,
  t: ConfigTensor,
  given: Tensor | undefined,
): { tensor: ort.Tensor; n: number } {
  if (!given) throw new Refusal(400, `expected input '${t.name}' is missing`);
  const datatype = V2_TYPES[t.dataType];
  if (given.datatype !== datatype)
    throw new Refusal(400, `input '${t.name}' has datatype ${given.datatype}, model expects ${datatype}`);
  const [n, ...rest] = given.shape;
  if (n === undefined || n < 1 || n > c.maxBatchSize)
    throw new Refusal(400, `inference request batch-size must be <= ${c.maxBatchSize} for '${c.name}'`);
  if (JSON.stringify(rest) !== JSON.stringify(t.dims))
    throw new Refusal(
      400,
      `unexpected shape for input '${t.name}', model expects [-1,${t.dims}], got [${given.shape}]`,
    );
  if (given.data.length !== product(given.shape))
    throw new Refusal(400, `input '${t.name}' has ${given.data.length} values for shape [${given.shape}]`);
  const dims = [n, ...(t.reshape ?? t.dims)];
  const tensor =
    datatype === "INT64"
      ? new ort.Tensor(
          "int64",
          BigInt64Array.from(given.data, (v) => BigInt(v)),
          dims,
        )
      : new ort.Tensor("float32", Float32Array.from(given.data), dims);
  return { tensor, n };
}

async function infer(s: TestServer, body: unknown): Promise<{ outputs: Tensor[] }> {
  const c = s.config;
  const req = body as { inputs?: Tensor[]; outputs?: { name: string }[] };
  const feeds: Record<string, ort.Tensor> = {};
  const sizes = new Set<number>();
  for (const t of c.inputs) {
    const { tensor, n } = feed(
      c,
      t,
      req.inputs?.find((i) => i.name === t.name),
    );
    feeds[t.name] = tensor;
    sizes.add(n);
  }
  const [n] = [...sizes];
  if (sizes.size !== 1 || n === undefined) throw new Refusal(400, "inputs have different batch sizes");
  const results = await s.session.run(feeds);
  s.batches.push(n);
  const wanted = req.outputs?.map((o) => o.name) ?? c.outputs.map((o) => o.name);
  const outputs = wanted.map((name) => {
    const o = c.outputs.find((x) => x.name === name);
    const r = results[name];
    if (!o || !r) throw new Refusal(400, `unexpected inference output '${name}' for model '${c.name}'`);
    return {
      name,
      datatype: V2_TYPES[o.dataType] ?? "",
      shape: [n, ...o.dims],
      data: Array.from(r.data as Float32Array),
    };
  });
  return { outputs: s.tamper ? s.tamper(outputs) : outputs };
}

async function answer(s: TestServer, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const c = s.config;
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (req.method === "GET" && path === "/v2/health/ready") return send(res, 200, {});
  const m = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?$/.exec(path);
  if (!m || decodeURIComponent(m[1] ?? "") !== c.name || (m[2] !== undefined && m[2] !== "1"))
    throw new Refusal(404, `Request for unknown model: '${m?.[1] ?? path}' is not found`);
  const shape = (t: ConfigTensor) => ({
    name: t.name,
    datatype: V2_TYPES[t.dataType],
    shape: [-1, ...t.dims],
  });
  if (req.method === "GET" && m[3] === undefined)
    return send(res, 200, {
      name: c.name,
      versions: ["1"],
      platform: c.platform,
      inputs: c.inputs.map(shape),
      outputs: c.outputs.map(shape),
    });
  if (req.method === "GET" && m[3] === "/ready") return send(res, 200, {});
  if (req.method === "POST" && m[3] === "/infer")
    return send(res, 200, {
      model_name: c.name,
      model_version: "1",
      ...(await infer(s, await readBody(req))),
    });
  throw new Refusal(400, `no ${req.method} ${path}`);
}

/** Serves the model `name` of repository `repo` until close(). */
export async function startTestServer(repo: string, name: string): Promise<TestServer> {
  const config = configView(parsePbtxt(readFileSync(join(repo, name, "config.pbtxt"), "utf8")));
  // 1/model.onnx is the model, or (weights as external data) a folder holding it.
  const place = join(repo, name, "1", "model.onnx");
  const session = await ort.InferenceSession.create(
    statSync(place).isDirectory() ? join(place, "model.onnx") : place,
  );
  let server: Server | undefined;
  const s: TestServer = {
    url: "",
    config,
    session,
    batches: [],
    close: async () => {
      await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
      await session.release();
    },
  };
  server = createServer((req, res) => {
    answer(s, req, res).catch((e: unknown) => {
      if (e instanceof Refusal) send(res, e.status, { error: e.message });
      else send(res, 500, { error: e instanceof Error ? e.message : String(e) });
    });
  });
  await new Promise<void>((done) => server?.listen(0, "127.0.0.1", done));
  s.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return s;
}
