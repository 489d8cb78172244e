// The files diffit ships (embedded data, the demo's spec and checkpoint) are found from any
// working directory, and shown as typed when the working directory is the repository.
import { existsSync } from "node:fs";
import { isAbsolute } from "node:path";
import { describe, expect, it } from "vitest";
import { DEMO_CHECKPOINT, DEMO_SPEC } from "../src/commands/demo.ts";
import { packageFile } from "../src/commands/package-files.ts";
import { DEFAULT_DATA } from "../src/commands/train.ts";
import { scratchDir } from "./helpers/temp.ts";

describe("packageFile", () => {
  it("is relative from the repository and absolute from elsewhere, and exists either way", () => {
    const repo = process.cwd(); // vitest runs in the repository root
    expect(packageFile("data/fashion-mnist", repo)).toBe("data/fashion-mnist");
    // A fresh folder, never an ancestor of the repository (the temp folder itself can be one).
    const away = packageFile("data/fashion-mnist", scratchDir("away"));
    expect(isAbsolute(away)).toBe(true);
    expect(existsSync(away)).toBe(true);
  });

  it("backs the defaults of train, eval and demo", () => {
    for (const f of [DEFAULT_DATA, DEMO_SPEC, DEMO_CHECKPOINT]) expect(existsSync(f)).toBe(true);
  });
});
