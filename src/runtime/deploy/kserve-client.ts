// HTTP/JSON calls of the KServe v2 (Open Inference) protocol that Triton serves: readiness,
// model metadata and infer, each failure an error naming the URL and the way out. Node-free:
// global fetch only, so the browser and other runtimes can use it.
import { InputError } from "../../errors.ts";

export interface KserveTarget {
  /** The server's HTTP root, e.g. http://localhost:8000 (Triton's default HTTP port). */
  url: string;
  model: string;
  /** A version folder's name; the server's choice (the latest, by default) when absent. */
  version?: string;
  /** Per request; a request still unanswered by then fails. Default 120 s. */
  timeoutMs?: number;
  /** The fetch to use (tests, proxies, auth headers); global fetch by default. */
  fetch?: typeof fetch;
}

/** A tensor as the protocol's JSON carries it: flat row-major data. */
export interface KserveTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: number[];
}

export interface KserveTensorInfo {
  name: string;
  datatype: string;
  /** -1 where any size goes (the batch dimension, when the server batches). */
  shape: number[];
}

export interface KserveMetadata {
  name: string;
  inputs: KserveTensorInfo[];
  outputs: KserveTensorInfo[];
}

/** A failed call: the server cannot be reached, refused the request, or answered nonsense. */
export class KserveError extends InputError {
  override name = "KserveError";
}

const modelPath = (t: KserveTarget) =>
  `v2/models/${encodeURIComponent(t.model)}${t.version ? `/versions/${encodeURIComponent(t.version)}` : ""}`;

const endpoint = (t: KserveTarget, path: string) => `${t.url.replace(/\/+$/, "")}/${path}`;

/** The server's own words for a refusal: the v2 error body `{"error": "…"}`, else its text. */
async function refusal(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body === "object" && body !== null && "error" in body && typeof body.error === "string")
      return body.error;
  } catch {
    // not JSON: the text itself
  }
  return text.trim().slice(0, 300) || res.statusText;
}

/** One request; the response when the server answers 2xx, else a KserveError saying why. */
async function call(t: KserveTarget, path: string, init: RequestInit = {}): Promise<Response> {
  const url = endpoint(t, path);
  const timeoutMs = t.timeoutMs ?? 120_000;
  let res: Response;
  try {
    res = await (t.fetch ?? fetch)(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const timedOut = e instanceof Error && e.name === "TimeoutError";
    const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : "";
    throw new KserveError(
      timedOut
        ? `${url} did not answer within ${timeoutMs / 1000} s; is the server overloaded? raise the timeout or lower the batch`
        : `cannot reach the inference server at ${t.url} (${url}${cause}); is it running? start it with tritonserver --model-repository=<repo>`,
    );
  }
  if (res.ok) return res;
  const why = await refusal(res);
  const hint =
    res.status === 404 || (res.status === 400 && /unknown model|not found/i.test(why))
      ? `; does the server's repository hold the model ${t.model}${t.version ? ` version ${t.version}` : ""}?`
      : "";
  throw new KserveError(`${url} answered ${res.status}: ${why}${hint}`);
}

async function json(res: Response, url: string): Promise<unknown> {
  try {
    return await res.json();
  } catch {
    throw new KserveError(`${url} answered 200 with a body that is not JSON; is it a KServe v2 server?`);
  }
}

/** Whether the server and the model are ready to infer, and if not, why not. */
export async function kserveReady(
  t: KserveTarget,
): Promise<{ ready: true } | { ready: false; reason: string }> {
  try {
    await call(t, "v2/health/ready");
    await call(t, `${modelPath(t)}/ready`);
    return { ready: true };
  } catch (e) {
    if (e instanceof KserveError) return { ready: false, reason: e.message };
    throw e;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

function tensorInfo(v: unknown): KserveTensorInfo | undefined {
  if (!isObject(v) || typeof v.name !== "string" || typeof v.datatype !== "string") return undefined;
  const shape = v.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d))) return undefined;
  return { name: v.name, datatype: v.datatype, shape: shape as number[] };
}

/** The model's inputs and outputs as the server declares them. */
export async function kserveMetadata(t: KserveTarget): Promise<KserveMetadata> {
  const url = endpoint(t, modelPath(t));
  const body = await json(await call(t, modelPath(t)), url);
  const list = (key: string) => {
    const raw = isObject(body) ? body[key] : undefined;
    const infos = Array.isArray(raw) ? raw.map(tensorInfo) : [];
    return Array.isArray(raw) && infos.every((i) => i !== undefined)
      ? (infos as KserveTensorInfo[])
      : undefined;
  };
  const inputs = list("inputs");
  const outputs = list("outputs");
  if (!inputs || !outputs)
    throw new KserveError(
      `${url} answered metadata without inputs and outputs ({name, datatype, shape}); is it a KServe v2 server?`,
    );
  return { name: isObject(body) && typeof body.name === "string" ? body.name : t.model, inputs, outputs };
}

/** Flattens nested row-major data (the protocol allows either form) and checks it is numbers. */
function flatNumbers(data: unknown): number[] | undefined {
  if (!Array.isArray(data)) return undefined;
  const flat: unknown[] = data.flat(Number.POSITIVE_INFINITY);
  return flat.every((v) => typeof v === "number") ? (flat as number[]) : undefined;
}

/** Runs the model on `inputs`; returns the named outputs as the server sent them. */
export async function kserveInfer(
  t: KserveTarget,
  inputs: readonly KserveTensor[],
  outputs: readonly string[],
): Promise<Map<string, KserveTensor>> {
  const path = `${modelPath(t)}/infer`;
  const url = endpoint(t, path);
  const res = await call(t, path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ inputs, outputs: outputs.map((name) => ({ name })) }),
  });
  const body = await json(res, url);
  const got = new Map<string, KserveTensor>();
  for (const raw of isObject(body) && Array.isArray(body.outputs) ? body.outputs : []) {
    const info = tensorInfo(raw);
    const data = isObject(raw) ? flatNumbers(raw.data) : undefined;
    if (info && data) got.set(info.name, { ...info, data });
  }
  const missing = outputs.filter((name) => !got.has(name));
  if (missing.length > 0)
    throw new KserveError(
      `${url} answered without the output${missing.length > 1 ? "s" : ""} ${missing.join(", ")} as JSON data (name, datatype, shape, data); it has ${[...got.keys()].join(", ") || "none"}`,
    );
  return got;
}
