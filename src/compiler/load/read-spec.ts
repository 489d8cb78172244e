// Reads a spec file of either format into a SpecDocument.
import { extname } from "node:path";
import { error } from "../diagnostics.ts";
import type { SpecDocument } from "./document.ts";
import { readJsonSpec } from "./json-document.ts";
import { readTsSpec } from "./ts-document.ts";

export interface ReadOptions {
  /** Run the TypeScript checker on .ts specs (default true). */
  typecheck?: boolean;
}

export function readSpecDocument(file: string, options: ReadOptions = {}): SpecDocument {
  const ext = extname(file);
  if (ext === ".json") return readJsonSpec(file);
  if (ext === ".ts" || ext === ".mts") return readTsSpec(file, { typecheck: options.typecheck ?? true });
  return {
    file,
    value: undefined,
    locate: () => undefined,
    diagnostics: [
      {
        ...error("DF106", [], `cannot read "${ext || file}" files as specs`, "use a .json or .ts spec"),
        location: { file, line: 1, column: 1 },
      },
    ],
  };
}
