// Writes an emitted model: inline below the threshold, otherwise every initializer goes to one
// `<name>.onnx.data` file (ONNX external data) written tensor by tensor, so the 2 GB protobuf
// limit never applies and peak memory stays near the largest tensor plus the graph.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from "node:fs";
import { basename, dirname } from "node:path";
import { type EmittedModel, encodeInline } from "./emit.ts";
import { onnx, type TensorProto } from "./proto.ts";
import { tensorProto } from "./render.ts";

/** Above this many bytes of weights the writer switches to external data (protobuf caps at 2 GB). */
export const EXTERNAL_DATA_THRESHOLD = 1.8e9;
/** Tensors below this size stay inline even in external-data files (onnx's size_threshold). */
const EXTERNAL_MIN_BYTES = 1024;

export interface WriteResult {
  path: string;
  dataPath?: string;
  bytes: number;
  weightBytes: number;
}

function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.byteLength) done += writeSync(fd, data, done);
}

function atomic(path: string, write: (fd: number) => void): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  try {
    write(fd);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function writeOnnx(
  path: string,
  e: EmittedModel,
  o: { threshold?: number; onTensor?: (done: number, total: number) => void } = {},
): WriteResult {
  const weightBytes = e.initializers.reduce((n, i) => n + i.bytes.byteLength, 0);
  if (weightBytes < (o.threshold ?? EXTERNAL_DATA_THRESHOLD)) {
    const bytes = encodeInline(e);
    atomic(path, (fd) => writeAll(fd, bytes));
    return { path, bytes: bytes.byteLength, weightBytes };
  }
  const dataPath = `${path}.data`;
  const location = basename(dataPath);
  const tensors: TensorProto[] = [];
  let offset = 0;
  atomic(dataPath, (fd) => {
    e.initializers.forEach((init, k) => {
      // Small tensors (shape operands of Reshape, Unsqueeze…) stay inline: runtimes read them
      // during shape inference, before external data is loaded.
      if (init.bytes.byteLength < EXTERNAL_MIN_BYTES) {
        tensors.push(tensorProto(init));
        return;
      }
      // 64-byte alignment lets runtimes memory-map each tensor.
      const pad = (64 - (offset % 64)) % 64;
      if (pad) writeAll(fd, new Uint8Array(pad));
      offset += pad;
      tensors.push(tensorProto(init, { location, offset }));
      writeAll(fd, init.bytes);
      offset += init.bytes.byteLength;
      o.onTensor?.(k + 1, e.initializers.length);
    });
  });
  const bytes = onnx.ModelProto.encode({
    ...e.model,
    graph: { ...e.model.graph, initializer: tensors },
  }).finish();
  atomic(path, (fd) => writeAll(fd, bytes));
  return { path, dataPath, bytes: bytes.byteLength, weightBytes };
}
