// PNG output: image grids from [N, H, W, C] tensors in [−1, 1], and a small line plot for the
// loss curve. pngjs does the encoding; pixels are laid out here.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { PNG } from "pngjs";

export interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

export function canvas(width: number, height: number, grey = 255): Rgba {
  const data = new Uint8Array(width * height * 4).fill(grey);
  return { width, height, data };
}

export function writePng(path: string, img: Rgba): void {
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, PNG.sync.write(png));
}

const toByte = (v: number) => Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));

/** Lays out `count` images [count, h, w, c] (c = 1 or 3) in a grid of `cols` columns. */
export function imageGrid(
  values: Float32Array,
  count: number,
  h: number,
  w: number,
  c: number,
  cols: number,
  pad = 2,
): Rgba {
  const rows = Math.ceil(count / cols);
  const img = canvas(cols * (w + pad) + pad, rows * (h + pad) + pad, 40);
  for (let i = 0; i < count; i++) {
    const ox = pad + (i % cols) * (w + pad);
    const oy = pad + Math.floor(i / cols) * (h + pad);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = ((i * h + y) * w + x) * c;
        const dst = ((oy + y) * img.width + ox + x) * 4;
        for (let k = 0; k < 3; k++) img.data[dst + k] = toByte(values[src + (c === 1 ? 0 : k)] ?? 0);
        img.data[dst + 3] = 255;
      }
    }
  }
  return img;
}

function line(
  img: Rgba,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  rgb: [number, number, number],
): void {
  const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
  for (let s = 0; s <= steps; s++) {
    const x = Math.round(x0 + ((x1 - x0) * s) / steps);
    const y = Math.round(y0 + ((y1 - y0) * s) / steps);
    if (x < 0 || y < 0 || x >= img.width || y >= img.height) continue;
    const o = (y * img.width + x) * 4;
    img.data.set([...rgb, 255], o);
  }
}

/** Loss against step on a log y-axis: raw values light, a moving average dark. */
export function lossCurve(
  steps: readonly number[],
  losses: readonly number[],
  width = 640,
  height = 320,
): Rgba {
  const img = canvas(width, height);
  const m = 30;
  const pts = losses
    .map((l, i) => ({ s: steps[i] ?? i, l: Math.log10(Math.max(l, 1e-8)) }))
    .filter((p) => Number.isFinite(p.l));
  line(img, m, height - m, width - 10, height - m, [0, 0, 0]);
  line(img, m, 10, m, height - m, [0, 0, 0]);
  if (pts.length < 2) return img;
  const sMin = pts[0]?.s ?? 0;
  const sMax = pts[pts.length - 1]?.s ?? 1;
  const lMin = Math.min(...pts.map((p) => p.l));
  const lMax = Math.max(...pts.map((p) => p.l));
  const px = (s: number) => m + ((s - sMin) / Math.max(1, sMax - sMin)) * (width - m - 10);
  const py = (l: number) => height - m - ((l - lMin) / Math.max(1e-9, lMax - lMin)) * (height - m - 10);
  const smooth: number[] = [];
  let acc = pts[0]?.l ?? 0;
  for (const p of pts) {
    acc = 0.95 * acc + 0.05 * p.l;
    smooth.push(acc);
  }
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1];
    const b = pts[i];
    if (a && b) line(img, px(a.s), py(a.l), px(b.s), py(b.l), [170, 190, 230]);
  }
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1];
    const b = pts[i];
    if (a && b) line(img, px(a.s), py(smooth[i - 1] ?? 0), px(b.s), py(smooth[i] ?? 0), [20, 60, 160]);
  }
  return img;
}
