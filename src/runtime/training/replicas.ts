// Data-parallel replicas of the step's gradient graph. A narrow model's step is thousands of
// small ops, which onnxruntime's intra-op threads cannot share out profitably; independent
// sessions on slices of the batch can: on the 2-core bench machine two sessions in two threads
// ran their half-batches of tiny-fmnist in the time one of them takes alone. Replica 0 runs in
// the main thread, the others each in a worker thread (replica-worker.mjs).
import { Worker } from "node:worker_threads";
import type * as ort from "onnxruntime-node";

export interface GradientOutputs {
  [name: string]: { data: Float32Array; dims: readonly number[] };
}

/** Runs the gradient graph on one slice of the batch. */
export interface GradientRunner {
  run(feeds: Record<string, ort.Tensor>): Promise<GradientOutputs>;
  release(): Promise<void>;
}

export function mainRunner(session: ort.InferenceSession): GradientRunner {
  return {
    async run(feeds) {
      const out = await session.run(feeds);
      return Object.fromEntries(
        Object.entries(out).map(([k, t]) => [k, { data: t.data as Float32Array, dims: t.dims }]),
      );
    },
    release: () => session.release(),
  };
}

type WorkerReply = { id: number; outputs?: GradientOutputs; error?: string };

/** A replica in a worker thread, with its own session of `bytes` on `threads` intra-op threads. */
export async function workerRunner(bytes: Uint8Array, threads: number): Promise<GradientRunner> {
  const worker = new Worker(new URL("./replica-worker.mjs", import.meta.url), {
    workerData: { bytes, threads },
  });
  const pending = new Map<number, { resolve: (o: GradientOutputs) => void; reject: (e: Error) => void }>();
  let failure: Error | undefined;
  const failAll = (e: Error) => {
    failure = e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  worker.on("error", failAll);
  worker.on("exit", (code) => {
    if (code !== 0) failAll(new Error(`a training replica's worker exited with code ${code}`));
  });
  await new Promise<void>((resolve, reject) => {
    worker.once("message", () => resolve());
    worker.once("error", reject);
  });
  worker.on("message", (m: WorkerReply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.outputs) p.resolve(m.outputs);
    else p.reject(new Error(`training replica: ${m.error ?? "no outputs"}`));
  });
  let next = 0;
  // Runs still in the worker's session: terminating a worker inside onnxruntime's native run
  // aborts the whole process, so release waits for them (after another replica failed, say).
  const inFlight = new Set<Promise<unknown>>();
  return {
    run(feeds) {
      if (failure) return Promise.reject(failure);
      const id = next++;
      // Structured cloning copies a view's whole buffer: send exact copies of views.
      const plain = Object.fromEntries(
        Object.entries(feeds).map(([k, t]) => {
          const d = t.data as Float32Array | Int32Array;
          const data = d.byteOffset === 0 && d.byteLength === d.buffer.byteLength ? d : d.slice();
          return [k, { type: t.type, data, dims: t.dims }];
        }),
      );
      const result = new Promise<GradientOutputs>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, feeds: plain });
      });
      const settled = result.then(
        () => undefined,
        () => undefined,
      );
      inFlight.add(settled);
      void settled.then(() => inFlight.delete(settled));
      return result;
    },
    async release() {
      await Promise.all(inFlight);
      await worker.terminate();
    },
  };
}

/**
 * Creates `count` runners of one gradient graph: the given main-thread session and count − 1
 * workers, each with its own session on `threads` intra-op threads.
 */
export async function openRunners(
  session: ort.InferenceSession,
  bytes: Uint8Array,
  count: number,
  threads: number,
): Promise<GradientRunner[]> {
  const workers = await Promise.all(Array.from({ length: count - 1 }, () => workerRunner(bytes, threads)));
  return [mainRunner(session), ...workers];
}
