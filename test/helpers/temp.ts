// Scratch folders for one test file: made under the run's temp folder with a `diffit-` prefix
// and removed after the file's last test, whatever its outcome.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

const made: string[] = [];

export function scratchDir(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `diffit-${tag}-`));
  made.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});
