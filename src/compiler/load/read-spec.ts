// Reads a spec file of either format into a SpecDocument.
import { extname } from "node:path";
import { error } from "../diagnostics.ts";
import type { SpecDocument } from "./document.ts";
import { failed, readJsonSpec } from "./json-document.ts";
import type { ReadBudget } from "./source-text.ts";
import { readTsSpec } from "./ts-document.ts";

export interface ReadOptions {
  /** Run the TypeScript checker on .ts specs (default true). */
  typecheck?: boolean;
  /** What this read may spend, shared with the reads of the same spec (extends chain). */
  budget?: ReadBudget;
}

export function readSpecDocument(file: string, options: ReadOptions = {}): SpecDocument {
  const ext = extname(file);
  if (ext === ".json") return readJsonSpec(file, options.budget);
  if (ext === ".ts" || ext === ".mts") return readTsSpec(file, options);
  const message = ext ? `cannot read "${ext}" files as specs` : `${file} is not a .json or .ts file`;
  return failed(file, [
    { ...error("DF106", [], message, "use a .json or .ts spec"), location: { file, line: 1, column: 1 } },
  ]);
}
