// What a training run shows and leaves behind: a progress bar (step, loss, it/s, ETA), one JSON
// line of metrics per step, and periodic loss-curve and sample-grid PNGs.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import cliProgress from "cli-progress";
import { lossCurve, writePng } from "../images/png.ts";

export interface MetricLine {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  seconds: number;
  imagesPerSecond: number;
}

export class MetricsLog {
  constructor(readonly path: string) {}

  /** Drops lines after `step` (written after the checkpoint a resumed run starts from). */
  truncateAfter(step: number): void {
    if (!existsSync(this.path)) return;
    const kept = this.read().filter((m) => m.step <= step);
    writeFileSync(this.path, kept.map((m) => `${JSON.stringify(m)}\n`).join(""));
  }

  append(m: MetricLine): void {
    appendFileSync(this.path, `${JSON.stringify(m)}\n`);
  }

  read(): MetricLine[] {
    if (!existsSync(this.path)) return [];
    return readFileSync(this.path, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as MetricLine);
  }

  writeCurve(pngPath: string): void {
    const m = this.read();
    writePng(
      pngPath,
      lossCurve(
        m.map((x) => x.step),
        m.map((x) => x.loss),
      ),
    );
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

/** A steps bar on stderr; `withLoss` false for work without a loss (sampling). */
export function progressBar(
  total: number,
  start: number,
  enabled: boolean,
  label = "train",
  withLoss = true,
): Progress {
  if (!enabled) return NO_PROGRESS;
  const loss = withLoss ? " | loss {loss}" : "";
  const bar = stderrBar(`${label} |{bar}| {value}/{total} steps${loss} | {ips} it/s | ETA {eta_formatted}`);
  bar.start(total, start, { loss: "-", ips: "-" });
  return {
    update: (step, loss, ips) => bar.update(step, { loss: loss.toFixed(4), ips: ips.toFixed(2) }),
    stop: () => bar.stop(),
  };
}
