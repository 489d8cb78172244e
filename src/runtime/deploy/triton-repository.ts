// `diffit export --triton REPO`: one model of a Triton model repository,
//
//   REPO/<name>/config.pbtxt
//   REPO/<name>/1/model.onnx                      (weights inline), or
//   REPO/<name>/1/model.onnx/model.onnx (+ .data)  (weights as external data, above 1.8 GB)
//
// the second because Triton takes an ONNX model of several files as a folder named model.onnx.
// The repository is locked while written; the model is exported into a staging folder beside
// its place and moved in, then config.pbtxt is written last, so a Triton polling the repository
// never loads a configuration without its model.
import { readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ResolvedEntry } from "../../compiler/pipeline.ts";
import type { ResolvedSpec } from "../../compiler/resolve-defaults.ts";
import { writeFileAtomic } from "../checkpoint/safetensors.ts";
import { type ExportOptions, exportOnnx } from "../onnx/export-model.ts";
import { readOnnxFile } from "../onnx/model-file.ts";
import { lockOutputFolder } from "../output-lock.ts";
import { writeError } from "../write-error.ts";
import {
  formatTritonConfig,
  type TritonModelConfig,
  type TritonServing,
  tritonConfig,
} from "./triton-config.ts";

export type DenoiserForm = ExportOptions["denoiser"];

/** Why `spec` has no `form` export, or undefined when it has. */
export function denoiserFormProblem(spec: ResolvedSpec, form: DenoiserForm): string | undefined {
  if (form === "raw") return undefined;
  const d = spec.diffusion;
  if (d.kind !== "edm")
    return `--denoiser edm is the EDM denoiser D(x; sigma), and ${spec.name} is a DDPM model: export its network with --denoiser raw (input t, the timestep)`;
  if (d.preconditioning !== "edm")
    return `--denoiser edm needs EDM preconditioning, and ${spec.name} has ${d.preconditioning}: export its network with --denoiser raw`;
  return undefined;
}

/**
 * What a served model computes unless the user says: the EDM denoiser D(x; sigma) where the spec
 * has one (a sampler then needs no preconditioning of its own), else the raw network (DDPM
 * models: input t, the timestep; output the predicted noise, and variance where learned).
 */
export const defaultDenoiserForm = (spec: ResolvedSpec): DenoiserForm =>
  denoiserFormProblem(spec, "edm") === undefined ? "edm" : "raw";

export interface TritonExportOptions extends Omit<ExportOptions, "onTensor"> {
  serving: TritonServing;
  onTensor?: ExportOptions["onTensor"];
  /** Where notes go (a stale lock taken over). */
  log?: (line: string) => void;
}

export interface TritonExportResult {
  repo: string;
  name: string;
  configPath: string;
  modelPath: string;
  dataPath?: string;
  weightBytes: number;
  config: TritonModelConfig;
}

const STAGING = ".diffit-staging-";

/** Runs `write`, a failed file system call in it becoming a WriteError naming `path` (others pass). */
function writing<T>(path: string, write: () => T): T {
  try {
    return write();
  } catch (e) {
    throw typeof (e as NodeJS.ErrnoException | undefined)?.code === "string" ? writeError(path, e) : e;
  }
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Exports `entry` into `repo` as the model `o.serving.name`, version 1, replacing what was there. */
export function writeTritonRepository(
  entry: ResolvedEntry,
  repo: string,
  o: TritonExportOptions,
): TritonExportResult {
  const { serving, log, ...exportOptions } = o;
  const lock = lockOutputFolder(repo, log ? { log } : {});
  const name = serving.name;
  const versionDir = join(repo, name, "1");
  const staging = join(versionDir, `${STAGING}${process.pid}`);
  const target = join(versionDir, "model.onnx");
  try {
    writing(versionDir, () => {
      // Holding the lock, any staging folder here is a killed run's.
      for (const f of isFolder(versionDir) ? readdirSync(versionDir) : [])
        if (f.startsWith(STAGING)) rmSync(join(versionDir, f), { recursive: true, force: true });
    });
    const written = writing(target, () => exportOnnx(entry, join(staging, "model.onnx"), exportOptions));
    const config = tritonConfig(readOnnxFile(written.path), serving);
    writing(target, () => {
      if (written.dataPath || isFolder(target)) rmSync(target, { recursive: true, force: true });
      // A single file replaces the old one atomically; a folder cannot, and is swapped.
      renameSync(written.dataPath ? staging : written.path, target);
    });
    const configPath = join(repo, name, "config.pbtxt");
    const comments = [
      `Written by diffit export --triton from spec ${entry.name} (spec hash ${entry.hash}).`,
      `Model: ${o.denoiser === "edm" ? "the EDM denoiser D(x; sigma)" : "the raw network F"}.`,
      "Inputs and outputs are the ONNX file's; per-sample scalars are sent as [N, 1].",
    ];
    writeFileAtomic(configPath, new TextEncoder().encode(formatTritonConfig(config, comments)));
    return {
      repo,
      name,
      configPath,
      modelPath: written.dataPath ? join(target, "model.onnx") : target,
      ...(written.dataPath ? { dataPath: join(target, "model.onnx.data") } : {}),
      weightBytes: written.weightBytes,
      config,
    };
  } finally {
    rmSync(staging, { recursive: true, force: true });
    lock.release();
  }
}
