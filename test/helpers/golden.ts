// Golden files: compared, never created by a test run. A missing or changed golden fails with
// the command that refreshes it; `UPDATE_GOLDEN=1 npx vitest run` rewrites them, to be reviewed
// as a diff before committing.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { expect } from "vitest";

export function expectGolden(path: string, text: string): void {
  if (process.env.UPDATE_GOLDEN === "1") {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  if (!existsSync(path)) {
    throw new Error(
      `golden ${path} is missing; create it with UPDATE_GOLDEN=1 npx vitest run <this test> and review it`,
    );
  }
  expect(
    text,
    `${path} differs; if the change is intended, refresh with UPDATE_GOLDEN=1 and review the diff`,
  ).toBe(readFileSync(path, "utf8"));
}
