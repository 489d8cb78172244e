// Data loading: IDX files (gzipped or not) with clear errors naming the file, image folders of
// PNG/JPEG with class sub-folders, corrupt files stopped or skipped and counted, and a seeded,
// resumable data order.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { describe, expect, it } from "vitest";
import { DataOrder } from "../src/runtime/data/data-order.ts";
import { fitGray, loadIdxDataset } from "../src/runtime/data/dataset.ts";
import { parseIdx } from "../src/runtime/data/idx.ts";
import { loadData } from "../src/runtime/data/load-data.ts";

function idx(dims: number[], bytes: number[]): Uint8Array {
  const head = new Uint8Array(4 + 4 * dims.length);
  const view = new DataView(head.buffer);
  head.set([0, 0, 8, dims.length]);
  for (const [i, d] of dims.entries()) view.setUint32(4 + 4 * i, d);
  return new Uint8Array([...head, ...bytes]);
}

describe("IDX", () => {
  const images = idx([2, 2, 3], [0, 255, 0, 10, 20, 30, 1, 2, 3, 4, 5, 6]);

  it("parses plain and gzipped files to the same array", () => {
    const plain = parseIdx(images, "a");
    expect(plain.shape).toEqual([2, 2, 3]);
    expect([...plain.data]).toEqual([0, 255, 0, 10, 20, 30, 1, 2, 3, 4, 5, 6]);
    const gz = parseIdx(gzipSync(images), "a.gz");
    expect(gz.shape).toEqual(plain.shape);
    expect([...gz.data]).toEqual([...plain.data]);
  });

  it.each([
    ["a bad magic number", new Uint8Array([1, 2, 3, 4]), /not an IDX file/],
    ["a truncated body", images.subarray(0, images.length - 3), /truncated IDX data/],
    ["a truncated header", idx([5, 5], []).subarray(0, 7), /truncated IDX header/],
    ["corrupt gzip", new Uint8Array([0x1f, 0x8b, 1, 2, 3]), /corrupt gzip/],
    ["float data", new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 0]), /not supported/],
  ])("names the file on %s", (_n, bytes, message) => {
    expect(() => parseIdx(bytes, "data/bad.idx")).toThrow(message);
    expect(() => parseIdx(bytes, "data/bad.idx")).toThrow(/data\/bad\.idx/);
  });

  it("loads the embedded Fashion-MNIST subset, centred in 32×32 with −1 padding", () => {
    const d = loadIdxDataset(
      "data/fashion-mnist/t10k-images-idx3-ubyte.gz",
      "data/fashion-mnist/t10k-labels-idx1-ubyte.gz",
      32,
      50,
    );
    expect(d.count).toBe(50);
    expect(d.images.length).toBe(50 * 32 * 32);
    expect(d.classNames[9]).toBe("Ankle boot");
    expect(d.images[0]).toBe(-1); // padding
    expect(Math.max(...d.images.subarray(0, 1024))).toBeLessThanOrEqual(1);
    expect(new Set(d.labels).size).toBeGreaterThan(5);
  });

  it("pads small images centred and maps bytes to [−1, 1]", () => {
    const out = new Float32Array(16);
    fitGray(new Uint8Array([255, 0, 0, 255]), 2, 2, 4, out, 0);
    expect([...out]).toEqual([-1, -1, -1, -1, -1, 1, -1, -1, -1, -1, 1, -1, -1, -1, -1, -1]);
  });

  it("area-averages larger images (a one-pixel checkerboard becomes mid grey)", () => {
    const out = new Float32Array(4);
    const board = Uint8Array.from({ length: 16 }, (_, i) => ((i + Math.floor(i / 4)) % 2 ? 255 : 0));
    fitGray(board, 4, 4, 2, out, 0);
    for (const v of out) expect(v).toBeCloseTo(0, 6);
  });
});

describe("image folders", () => {
  const dir = mkdtempSync(join(tmpdir(), "diffit-folder-"));
  const png = (v: number) => {
    const p = new PNG({ width: 4, height: 4 });
    p.data.fill(v);
    for (let i = 3; i < p.data.length; i += 4) p.data[i] = 255;
    return PNG.sync.write(p);
  };
  mkdirSync(join(dir, "cats"));
  mkdirSync(join(dir, "dogs"));
  writeFileSync(join(dir, "cats", "a.png"), png(255));
  writeFileSync(join(dir, "cats", "b.png"), png(0));
  const rgba = Buffer.alloc(4 * 4 * 4, 128);
  writeFileSync(join(dir, "dogs", "c.jpg"), jpeg.encode({ data: rgba, width: 4, height: 4 }, 95).data);
  writeFileSync(join(dir, "dogs", "notes.txt"), "ignored");

  it("reads PNG and JPEG, one label per sorted class folder, resized and grey-scaled", () => {
    const d = loadData(dir, { size: 2, channels: 1, split: "train" });
    expect(d.count).toBe(3);
    expect(d.classNames).toEqual(["cats", "dogs"]);
    expect([...d.labels]).toEqual([0, 0, 1]);
    expect(d.images[0]).toBeCloseTo(1, 5);
    expect(d.images[4]).toBeCloseTo(-1, 5);
    expect(Math.abs(d.images[8] ?? 9)).toBeLessThan(0.05); // mid grey
  });

  it("area-averages when downscaling and centre-crops non-square images", () => {
    const d2 = mkdtempSync(join(tmpdir(), "diffit-resample-"));
    mkdirSync(join(d2, "x"));
    const image = (width: number, height: number, v: (x: number, y: number) => number) => {
      const p = new PNG({ width, height });
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const o = (y * width + x) * 4;
          p.data.fill(v(x, y), o, o + 3);
          p.data[o + 3] = 255;
        }
      }
      return PNG.sync.write(p);
    };
    // A one-pixel checkerboard: nearest-neighbour would keep ±1, averaging gives mid grey.
    writeFileSync(
      join(d2, "x", "a.png"),
      image(4, 4, (x, y) => ((x + y) % 2 ? 255 : 0)),
    );
    // 6×2 with only the middle 2×2 white: the centred square crop is all white.
    writeFileSync(
      join(d2, "x", "b.png"),
      image(6, 2, (x) => (x >= 2 && x < 4 ? 255 : 0)),
    );
    // A 3 → 2 ratio splits source pixels between outputs: a flat image stays flat.
    writeFileSync(
      join(d2, "x", "c.png"),
      image(3, 3, () => 51),
    );
    const d = loadData(d2, { size: 2, channels: 1, split: "train" });
    const img = (i: number) => [...d.images.subarray(i * 4, i * 4 + 4)];
    for (const v of img(0)) expect(v).toBeCloseTo(0, 5);
    for (const v of img(1)) expect(v).toBeCloseTo(1, 5);
    for (const v of img(2)) expect(v).toBeCloseTo((51 / 255) * 2 - 1, 5);
  });

  it("stops at a corrupt image naming it, or skips and counts it with skipBad", () => {
    writeFileSync(join(dir, "dogs", "broken.png"), "not a png");
    expect(() => loadData(dir, { size: 2, channels: 3, split: "train" })).toThrow(/broken\.png.*--skip-bad/);
    const d = loadData(dir, { size: 2, channels: 3, split: "train", skipBad: true });
    expect(d.count).toBe(3);
    expect(d.skipped).toBe(1);
  });

  it("explains what a data folder must hold", () => {
    expect(() => loadData(join(dir, "nope"), { size: 2, channels: 1, split: "train" })).toThrow(
      /does not exist/,
    );
    const empty = mkdtempSync(join(tmpdir(), "diffit-empty-"));
    expect(() => loadData(empty, { size: 2, channels: 1, split: "train" })).toThrow(/no class sub-folders/);
  });
});

describe("data order", () => {
  it("is a seeded permutation per epoch that resumes from its snapshot", () => {
    const a = new DataOrder(5, 1);
    const first = a.next(7); // crosses into epoch 1
    expect(new Set(first.slice(0, 5)).size).toBe(5);
    const snap = a.snapshot();
    const rest = a.next(6);
    expect(new DataOrder(5, 1, snap).next(6)).toEqual(rest);
    expect(new DataOrder(5, 2).next(5)).not.toEqual(first.slice(0, 5));
  });
});
