// Every test run gets a temp folder of its own (TMPDIR, inherited by the test workers and the
// processes they start), and the run fails if a test leaves anything in it: each test must
// remove what it makes. A folder per run also keeps parallel runs from seeing each other's files.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), "diffit-test-run-"));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  return () => {
    const left = readdirSync(dir);
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(dir, { recursive: true, force: true });
    if (left.length > 0) {
      throw new Error(
        `tests left ${left.length} item(s) in the temp folder: ${left.slice(0, 10).join(", ")}`,
      );
    }
  };
}
