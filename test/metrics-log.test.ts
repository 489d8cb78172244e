// metrics.jsonl as a resumed run finds it: a last line cut short by a kill or a full disk is
// removed (and said), a complete last line without its newline is kept, and a damaged line
// elsewhere is refused with a message naming the file, the line and the fix.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InputError } from "../src/errors.ts";
import { MetricsLog } from "../src/runtime/training/reporting.ts";

const dir = mkdtempSync(join(tmpdir(), "diffit-metrics-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const line = (step: number) =>
  `${JSON.stringify({ step, loss: 1 / step, lr: 0.001, gradNorm: 1, seconds: 0.1, imagesPerSecond: 40 })}\n`;

function logWith(name: string, text: string): MetricsLog {
  const path = join(dir, name);
  writeFileSync(path, text);
  return new MetricsLog(path);
}

describe("metrics log", () => {
  it("a resume removes a half-written last line and says so", () => {
    const torn = `${line(1)}${line(2)}${line(3).slice(0, 20)}`;
    const log = logWith("torn.jsonl", torn);
    expect(log.read().map((m) => m.step)).toEqual([1, 2]);
    const notes: string[] = [];
    log.truncateAfter(2, (l) => notes.push(l));
    expect(readFileSync(log.path, "utf8")).toBe(`${line(1)}${line(2)}`);
    expect(notes).toEqual([
      `note: ${log.path} ended in a half-written line (20 bytes, from a run that was stopped while writing it); removed it`,
    ]);
  });

  it("keeps a complete last line that lacks its newline, and drops lines after the resumed step", () => {
    const log = logWith("no-newline.jsonl", `${line(1)}${line(2)}${line(3).trimEnd()}`);
    const notes: string[] = [];
    log.truncateAfter(3, (l) => notes.push(l));
    expect(readFileSync(log.path, "utf8")).toBe(`${line(1)}${line(2)}${line(3)}`);
    log.truncateAfter(1);
    expect(readFileSync(log.path, "utf8")).toBe(line(1));
    expect(notes).toEqual([]);
  });

  it.each([
    ["a line that is not JSON", `${line(1)}oops\n${line(3)}`, "line 2 is not a metrics record (not JSON"],
    [
      "a record without step and loss",
      `${line(1)}{"x":1}\n${line(3)}`,
      "line 2 is not a metrics record (no numeric step and loss)",
    ],
  ])("refuses %s, naming the file, the line and the fix", (_, text, message) => {
    const log = logWith("damaged.jsonl", text);
    let error: unknown;
    try {
      log.truncateAfter(3);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toContain(`${log.path} ${message}`);
    expect((error as Error).message).toContain("Delete that line, or the file");
    expect(readFileSync(log.path, "utf8")).toBe(text); // nothing rewritten
  });

  it("a fresh run empties the log without reading it (a damaged one is not in its way)", () => {
    const log = logWith("fresh.jsonl", "oops\n");
    log.truncateAfter(-1);
    expect(readFileSync(log.path, "utf8")).toBe("");
  });
});
