// What a training run shows and leaves behind: a progress bar (step, loss, it/s, ETA), one JSON
// line of metrics per step, and periodic loss-curve and sample-grid PNGs.
import { appendFileSync, existsSync } from "node:fs";
import cliProgress from "cli-progress";
import { InputError } from "../../errors.ts";
import { readRegularTextFile } from "../../files.ts";
import { writeFileAtomic } from "../checkpoint/safetensors.ts";
import { lossCurve, writePng } from "../images/png.ts";
import { writingTo } from "../write-error.ts";

export interface MetricLine {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  seconds: number;
  imagesPerSecond: number;
}

/** The records of a metrics file, and a last line cut short by a killed write, if any. */
interface ParsedMetrics {
  records: MetricLine[];
  torn?: string;
}

const isRecord = (v: unknown): v is MetricLine =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as MetricLine).step === "number" &&
  typeof (v as MetricLine).loss === "number";

export class MetricsLog {
  constructor(readonly path: string) {}

  /**
   * Drops lines after `step` (written after the checkpoint a resumed run starts from; −1: all).
   * A last line cut short by a kill or a full disk is dropped too, and `log` told.
   */
  truncateAfter(step: number, log: (line: string) => void = () => {}): void {
    if (!existsSync(this.path)) return;
    const { records, torn } = step < 0 ? { records: [] } : this.parse();
    if (torn !== undefined)
      log(
        `note: ${this.path} ended in a half-written line (${Buffer.byteLength(torn)} bytes, from a run that was stopped while writing it); removed it`,
      );
    const kept = records.filter((m) => m.step <= step);
    writeFileAtomic(this.path, new TextEncoder().encode(kept.map((m) => `${JSON.stringify(m)}\n`).join("")));
  }

  append(m: MetricLine): void {
    writingTo(this.path, () => appendFileSync(this.path, `${JSON.stringify(m)}\n`));
  }

  read(): MetricLine[] {
    return this.parse().records;
  }

  private parse(): ParsedMetrics {
    if (!existsSync(this.path)) return { records: [] };
    const lines = readRegularTextFile(this.path, { what: "metrics log" }).split("\n");
    const last = lines.pop() ?? ""; // after the final newline: "" unless the last write was cut short
    const records = lines.flatMap((line, i) => (line.trim() === "" ? [] : [this.record(line, i + 1)]));
    if (last.trim() === "") return { records };
    try {
      return { records: [...records, this.record(last, lines.length + 1)] };
    } catch {
      return { records, torn: last };
    }
  }

  private record(line: string, n: number): MetricLine {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw this.damaged(n, `not JSON: ${(e as Error).message}`);
    }
    if (!isRecord(value)) throw this.damaged(n, "no numeric step and loss");
    return value;
  }

  private damaged(n: number, why: string): InputError {
    return new InputError(
      `${this.path} line ${n} is not a metrics record (${why}); the file was edited or damaged. Delete that line, or the file (it only logs losses for the loss curve: training resumes from state.safetensors), and rerun`,
    );
  }

  writeCurve(pngPath: string): void {
    const m = this.read();
    const curve = lossCurve(
      m.map((x) => x.step),
      m.map((x) => x.loss),
    );
    writingTo(pngPath, () => writePng(pngPath, curve));
  }
}

export interface Progress {
  update(step: number, loss: number, itPerSec: number): void;
  stop(): void;
}

const NO_PROGRESS: Progress = { update: () => {}, stop: () => {} };

/** A bar on stderr in `format`; without a terminal it prints a line every 10 s. */
function stderrBar(format: string): cliProgress.SingleBar {
  return new cliProgress.SingleBar(
    { format, hideCursor: true, noTTYOutput: true, notTTYSchedule: 10000, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
}

/**
 * A bar over a time budget, for runs that stop on the clock rather than at a step count (the
 * demo): a steps bar would show a meaningless ETA of hours.
 */
export function timeBudgetBar(seconds: number, enabled: boolean, label = "train"): Progress {
  if (!enabled) return NO_PROGRESS;
  const started = performance.now();
  const bar = stderrBar(`${label} |{bar}| {value}/{total} s | step {step} | loss {loss} | {ips} it/s`);
  const total = Math.round(seconds);
  bar.start(total, 0, { step: 0, loss: "-", ips: "-" });
  return {
    update: (step, loss, ips) =>
      bar.update(Math.min(total, Math.round((performance.now() - started) / 1000)), {
        step,
        loss: loss.toFixed(4),
        ips: ips.toFixed(2),
      }),
    stop: () => bar.stop(),
  };
}

/** A steps bar on stderr; `withLoss` false for work without a loss (sampling); `unit` what it counts. */
export function progressBar(
  total: number,
  start: number,
  enabled: boolean,
  label = "train",
  withLoss = true,
  unit = "steps",
): Progress {
  if (!enabled) return NO_PROGRESS;
  const loss = withLoss ? " | loss {loss}" : "";
  const bar = stderrBar(`${label} |{bar}| {value}/{total} ${unit}${loss} | {ips} it/s | ETA {eta_formatted}`);
  bar.start(total, start, { loss: "-", ips: "-" });
  return {
    update: (step, loss, ips) => bar.update(step, { loss: loss.toFixed(4), ips: ips.toFixed(2) }),
    stop: () => bar.stop(),
  };
}
