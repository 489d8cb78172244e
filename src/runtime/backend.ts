// Backend selection: the fastest tfjs backend that loads, in the order node-gpu, node, wasm, cpu.
// tfjs-node and tfjs-node-gpu are optional dependencies: their install downloads libtensorflow,
// which fails without network access, so a missing package or a failing native load falls
// through with a one-line reason instead of crashing.
import * as tf from "@tensorflow/tfjs";
import { UsageError } from "../errors.ts";
import { registerWasmKernels } from "./wasm-kernels/register.ts";

export const BACKENDS = ["node-gpu", "node", "wasm", "cpu"] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface BackendChoice {
  /** The diffit name of the backend that runs. */
  name: BackendName;
  /** The tfjs backend name (tensorflow, wasm, cpu). */
  tfjsName: string;
  /** Why each faster backend was skipped. */
  skipped: { name: BackendName; reason: string }[];
  /** Why this one was chosen (order, flag or environment). */
  why: string;
}

function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split("\n")[0]?.slice(0, 200) ?? "unknown error";
}

/** Loads one backend; throws with a short reason when it cannot run here. */
async function load(name: BackendName): Promise<string> {
  switch (name) {
    case "node-gpu":
    case "node": {
      const pkg = name === "node-gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node";
      try {
        await import(pkg);
      } catch (e) {
        const code = (e as { code?: string }).code;
        throw new Error(
          code === "ERR_MODULE_NOT_FOUND"
            ? `${pkg} is not installed`
            : `${pkg} failed to load: ${firstLine(e)}`,
        );
      }
      if (!(await tf.setBackend("tensorflow")))
        throw new Error(`${pkg} loaded but its backend did not initialise`);
      return "tensorflow";
    }
    case "wasm": {
      await import("@tensorflow/tfjs-backend-wasm");
      if (!(await tf.setBackend("wasm"))) throw new Error("the wasm backend did not initialise");
      registerWasmKernels();
      return "wasm";
    }
    case "cpu":
      if (!(await tf.setBackend("cpu"))) throw new Error("the cpu backend did not initialise");
      return "cpu";
  }
}

export function isBackendName(v: string): v is BackendName {
  return (BACKENDS as readonly string[]).includes(v);
}

/**
 * Selects a backend. `requested` (from --backend) wins over DIFFIT_BACKEND; an explicit
 * request that cannot load is an error, never a silent fallback.
 */
export async function selectBackend(
  requested?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<BackendChoice> {
  // Production mode: no debug checks, and no "install tfjs-node" banner from the cpu backend.
  tf.env().set("PROD", true);
  const wanted = requested ?? env.DIFFIT_BACKEND;
  if (wanted !== undefined) {
    if (!isBackendName(wanted))
      throw new UsageError(`unknown backend "${wanted}"; use one of ${BACKENDS.join(", ")}`);
    const tfjsName = await load(wanted).catch((e: unknown) => {
      throw new UsageError(`backend ${wanted} was requested but cannot run: ${firstLine(e)}`);
    });
    await tf.ready();
    return { name: wanted, tfjsName, skipped: [], why: requested ? "--backend" : "DIFFIT_BACKEND" };
  }
  const skipped: BackendChoice["skipped"] = [];
  for (const name of BACKENDS) {
    try {
      const tfjsName = await load(name);
      await tf.ready();
      return { name, tfjsName, skipped, why: "fastest that loads" };
    } catch (e) {
      skipped.push({ name, reason: firstLine(e) });
    }
  }
  throw new Error(
    `no tfjs backend could start:\n${skipped.map((s) => `  ${s.name}: ${s.reason}`).join("\n")}`,
  );
}

export function describeBackend(c: BackendChoice): string {
  const lines = [`backend: ${c.name} (${c.why})`];
  for (const s of c.skipped) lines.push(`  skipped ${s.name}: ${s.reason}`);
  return lines.join("\n");
}
