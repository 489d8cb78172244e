// Text rendering of the model report (`diffit inspect`): an aligned per-layer table and totals.
import type { Analysis, LayerRow } from "./analysis.ts";
import { formatShape } from "./ir/types.ts";

/** 561330144 → "561.33M"; small counts stay exact. */
export function humanCount(n: number): string {
  const units: [number, string][] = [
    [1e12, "T"],
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "K"],
  ];
  for (const [scale, suffix] of units) if (Math.abs(n) >= scale) return `${(n / scale).toFixed(2)}${suffix}`;
  return String(n);
}

export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rightAligned: readonly number[] = [],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (rightAligned.includes(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** A GitHub-flavoured Markdown table; newlines in cells become spaces (callers escape `|`). */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replace(/\n/g, " ")).join(" | ")} |`;
  return [line(header), `|${header.map(() => "---").join("|")}|`, ...rows.map(line)].join("\n");
}

const dash = (n: number) => (n === 0 ? "-" : humanCount(n));

export function formatLayerTable(rows: readonly LayerRow[]): string {
  return table(
    ["layer", "op", "output", "params", "MACs linear/conv", "MACs attention"],
    rows.map((r) => [
      r.name,
      r.op,
      formatShape(r.shape),
      dash(r.params),
      dash(r.macsLinear),
      dash(r.macsAttention),
    ]),
    [3, 4, 5],
  );
}

export function formatTotals(a: Analysis): string {
  const t = a.totals;
  return [
    `parameters        ${humanCount(t.params)} (${t.params.toLocaleString("en-US")}; trainable ${humanCount(t.trainableParams)}, fixed ${humanCount(t.fixedParams)})`,
    `MACs linear/conv  ${humanCount(t.macsLinear)} per sample`,
    `MACs attention    ${humanCount(t.macsAttention)} per sample`,
    `MACs total        ${humanCount(t.macs)} per sample`,
    `activations       ${humanCount(t.activationBytes)}B per sample (float32, training estimate)`,
  ].join("\n");
}

export function formatReport(a: Analysis, rows: readonly LayerRow[] = a.rows): string {
  return `${a.name} (${a.family})\n\n${formatLayerTable(rows)}\n\n${formatTotals(a)}\n`;
}
