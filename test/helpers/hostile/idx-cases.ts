// Hostile and broken IDX data folders (MNIST / Fashion-MNIST layout), given to `train --data`:
// missing or odd files, bad headers, truncated data, degenerate shapes, gzip data that is corrupt,
// truncated or a bomb. Each is refused with the file named before any training work; the valid
// folders train one step.
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join as joinPath } from "node:path";
import { gzipSync } from "node:zlib";
import type { CorpusCase } from "../corpus.ts";
import { type Fixtures, idxBytes, quickTrain, SPECIALS, sparse } from "./fixtures.ts";

const IMAGES = "train-images-idx3-ubyte";
const LABELS = "train-labels-idx1-ubyte";

/** `train --data` on a folder (a fresh run each time). */
export function trainArgs(fx: Fixtures, data: string, ...extra: string[]): string[] {
  return quickTrain(fx, "--data", data, "--force", "--out", joinPath(fx.dir, "out", "train"), ...extra);
}

interface Folder {
  name: string;
  /** Fills the folder (which exists, empty); returns the file the message must name. */
  fill: (dir: string) => string;
  says: RegExp;
  exit?: number;
}

const images = (n = 8, h = 12, w = 12) => idxBytes([n, h, w], new Uint8Array(n * h * w).fill(90));
const labels = (n = 8) =>
  idxBytes(
    [n],
    Array.from({ length: n }, (_, i) => i % 10),
  );

/** A folder of an images file (plain or gzipped) and the valid labels. */
function withImages(bytes: Uint8Array, gz: boolean): (dir: string) => string {
  return (dir) => {
    const file = joinPath(dir, `${IMAGES}${gz ? ".gz" : ""}`);
    writeFileSync(file, gz ? gzipSync(bytes) : bytes);
    writeFileSync(joinPath(dir, LABELS), labels());
    return file;
  };
}

function withLabels(bytes: Uint8Array, gz: boolean): (dir: string) => string {
  return (dir) => {
    writeFileSync(joinPath(dir, IMAGES), images());
    const file = joinPath(dir, `${LABELS}${gz ? ".gz" : ""}`);
    writeFileSync(file, gz ? gzipSync(bytes) : bytes);
    return file;
  };
}

/** Gzip members of 1 MiB of zeros each after the header's member: a bomb ~1000× its size. */
function bomb(header: Uint8Array, mib: number): Uint8Array {
  const zeros = gzipSync(new Uint8Array(2 ** 20), { level: 9 });
  return Buffer.concat([gzipSync(header), ...Array.from({ length: mib }, () => zeros)]);
}

/** A gzip member with a file name field of `n` bytes (FNAME), then `body` deflated. */
function gzipWithName(body: Uint8Array, n: number): Uint8Array {
  const plain = gzipSync(body);
  const head = Buffer.from(plain.subarray(0, 10));
  head[3] = (head[3] ?? 0) | 0x08;
  return Buffer.concat([head, Buffer.alloc(n, 0x61), Buffer.from([0]), plain.subarray(10)]);
}

function contentCases(): Folder[] {
  const cases: Folder[] = [];
  const header = (dims: number[]) => idxBytes(dims, []);
  for (const gz of [false, true]) {
    const z = gz ? " (gzipped)" : "";
    const img = (name: string, bytes: Uint8Array, says: RegExp) =>
      cases.push({ name: `images: ${name}${z}`, fill: withImages(bytes, gz), says });
    img(
      "an empty file",
      new Uint8Array(),
      gz ? /truncated IDX header|too short/ : /not an IDX file \(too short\)/,
    );
    img("2 bytes", new Uint8Array([0, 0]), /too short|truncated IDX header/);
    img(
      "a bad magic number",
      new Uint8Array([1, 2, 3, 4, 0, 0, 0, 1]),
      /not an IDX file \(bad magic number\)/,
    );
    img("text", Buffer.from("these are not images\n"), /not an IDX file \(bad magic number\)/);
    img("float data (0x0d)", new Uint8Array([0, 0, 0x0d, 3, 0, 0, 0, 1]), /IDX dtype 0xd is not supported/);
    img("int data (0x0c)", new Uint8Array([0, 0, 0x0c, 3, 0, 0, 0, 1]), /IDX dtype 0xc is not supported/);
    img(
      "rank 2 (flat rows)",
      idxBytes([8, 144], new Uint8Array(8 * 144)),
      /expected \[count, height, width\], got \[8, 144\]/,
    );
    img(
      "rank 4",
      idxBytes([8, 1, 12, 12], new Uint8Array(8 * 144)),
      /expected \[count, height, width\], got \[8, 1, 12, 12\]/,
    );
    img("rank 0", idxBytes([], [7]), /expected \[count, height, width\], got \[\]/);
    img("a truncated header", header([8, 12, 12]).subarray(0, 10), /truncated IDX header/);
    img("rank 255 and no dimensions", new Uint8Array([0, 0, 8, 255, 0, 0, 0, 1]), /truncated IDX header/);
    for (const frac of [0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999]) {
      const full = images();
      img(
        `data truncated at ${frac * 100} %`,
        full.subarray(0, 16 + Math.floor(frac * 8 * 144)),
        /truncated IDX data \(\d+ bytes for shape \[8, 12, 12\]\)/,
      );
    }
    img("0 images", images(0), /holds no images; a data folder holds/);
    img("0×0 images", images(8, 0, 0), /holds 0×0 images, too small to train on/);
    img("1×12 images", images(8, 1, 12), /holds 12×1 images, too small to train on/);
    img("12×1 images", images(8, 12, 1), /holds 1×12 images, too small/);
    img("1×1 images", images(8, 1, 1), /holds 1×1 images, too small/);
    img(
      "a header declaring 55.9 GiB",
      header([60000, 1000, 1000]),
      /declares shape \[60000, 1000, 1000\], 55\.9 GiB of data, more than the 1 GiB/,
    );
    img(
      "a header declaring 2^32-1 everywhere",
      header([2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1]),
      /more than the 1 GiB diffit reads/,
    );
    img("7 images for 8 labels", images(7), /has 7 images but .* has 8 labels/);
    const lab = (name: string, bytes: Uint8Array, says: RegExp) =>
      cases.push({ name: `labels: ${name}${z}`, fill: withLabels(bytes, gz), says });
    lab("rank 2", idxBytes([8, 1], [0, 1, 2, 3, 4, 5, 6, 7]), /expected \[count\] labels, got \[8, 1\]/);
    lab("a bad magic number", new Uint8Array([9, 9, 9, 9]), /not an IDX file/);
    lab("truncated", labels().subarray(0, 10), /truncated IDX data/);
    lab("float labels", new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 8]), /IDX dtype 0xd is not supported/);
    lab("rank 0", idxBytes([], [3]), /expected \[count\] labels, got \[\]/);
    lab("0 labels", labels(0), /has 8 images but .* has 0 labels/);
    // Read fine, refused by the trainer: the data line names the folder.
    cases.push({
      name: `labels: a label of 200${z}`,
      fill: (dir) => {
        withLabels(idxBytes([8], [0, 1, 2, 3, 4, 5, 6, 200]), gz)(dir);
        return dir;
      },
      says: /the data has 201 classes but spec hostile-image has conditioning\.classes 10/,
    });
  }
  return cases;
}

function gzipCases(): Folder[] {
  const cases: Folder[] = [];
  const gz = (name: string, bytes: Uint8Array, says: RegExp) =>
    cases.push({
      name: `gzip: ${name}`,
      fill: (dir) => {
        const file = joinPath(dir, `${IMAGES}.gz`);
        writeFileSync(file, bytes);
        writeFileSync(joinPath(dir, LABELS), labels());
        return file;
      },
      says,
    });
  const valid = gzipSync(images());
  gz(
    "corrupt deflate data",
    Buffer.concat([valid.subarray(0, 10), Buffer.alloc(40, 0xff)]),
    /corrupt gzip data/,
  );
  gz("a bad gzip header", new Uint8Array([0x1f, 0x8b, 1, 2, 3]), /corrupt gzip data/);
  gz("truncated to its header", valid.subarray(0, 12), /truncated IDX header/);
  gz("trailing garbage", Buffer.concat([valid, Buffer.from("garbage")]), /corrupt gzip data/);
  gz(
    "a bomb of 1 GiB after a small header",
    bomb(idxBytes([8, 12, 12], []), 1024),
    /unpacks to more than the 1168 bytes its IDX header declares/,
  );
  gz("a bomb declaring 4 GiB", bomb(idxBytes([4096, 1024, 1024], []), 8), /more than the 1 GiB diffit reads/);
  gz("gzip inside gzip", gzipSync(valid), /not an IDX file \(bad magic number\)/);
  gz("an empty gzip member", gzipSync(new Uint8Array()), /too short|truncated IDX header/);
  gz(
    "a bomb of 64 MiB after a 1 MiB header",
    bomb(idxBytes([16, 256, 256], []), 64),
    /unpacks to more than the 1048592 bytes/,
  );
  gz("only the gzip magic", new Uint8Array([0x1f, 0x8b]), /truncated IDX header|corrupt gzip data/);
  gz("a 100 KiB file name hiding the header", gzipWithName(images(), 100_000), /truncated IDX header/);
  gz(
    "a gzipped PNG",
    gzipSync(Buffer.from("\x89PNG\r\n\x1a\n", "latin1")),
    /not an IDX file \(bad magic number\)/,
  );
  return cases;
}

function folderCases(): Folder[] {
  const cases: Folder[] = [];
  const files = (name: string, names: string[], says: RegExp) =>
    cases.push({
      name,
      fill: (dir) => {
        for (const n of names) writeFileSync(joinPath(dir, n), n.includes("images") ? images() : labels());
        return dir;
      },
      says,
    });
  files(
    "only an images file",
    [IMAGES],
    /has IDX files but no train-images\/labels pair for the train split/,
  );
  files("only a labels file", [`${LABELS}.gz`], /has IDX files but no train-images\/labels pair/);
  files(
    "only the test split",
    ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
    /no train-images\/labels pair for the train split/,
  );
  for (const s of SPECIALS) {
    // A dangling link or a loop does not exist: the folder then holds an IDX name without a pair.
    const gone = s.name === "a dangling link" || s.name === "a link loop";
    for (const which of [IMAGES, LABELS])
      cases.push({
        name: `${s.name} as the ${which === IMAGES ? "images" : "labels"} file`,
        fill: (dir) => {
          const other = which === IMAGES ? LABELS : IMAGES;
          writeFileSync(joinPath(dir, other), other === IMAGES ? images() : labels());
          s.make(joinPath(dir, which));
          return gone ? dir : joinPath(dir, which);
        },
        says: gone ? /has IDX files but no train-images\/labels pair/ : s.says,
      });
  }
  cases.push({
    name: "a 2 GiB sparse images file",
    fill: (dir) => {
      writeFileSync(joinPath(dir, LABELS), labels());
      sparse(joinPath(dir, IMAGES), 2 * 2 ** 30);
      return joinPath(dir, IMAGES);
    },
    says: /2 GiB, more than the 1 GiB diffit reads as a gzipped or plain IDX; use a subset/,
  });
  return cases;
}

export function idxCases(fx: Fixtures): CorpusCase[] {
  const cases: CorpusCase[] = [];
  const root = joinPath(fx.dir, "idx-cases");
  [...folderCases(), ...contentCases(), ...gzipCases()].forEach((f, i) => {
    const dir = joinPath(root, `case-${i}`);
    mkdirSync(dir, { recursive: true });
    const named = f.fill(dir);
    cases.push({
      name: `idx: ${f.name}`,
      args: trainArgs(fx, dir),
      exit: f.exit ?? 1,
      expect: [named, f.says],
    });
  });
  // Paths that are no folder at all.
  const odd = (name: string, make: (p: string) => void, says: RegExp) => {
    const path = joinPath(root, `odd-${cases.length}`);
    make(path);
    cases.push({ name: `idx: ${name} as --data`, args: trainArgs(fx, path), exit: 1, expect: [path, says] });
  };
  odd("a missing folder", () => {}, /data path .* does not exist; a data folder holds/);
  odd("a file", (p) => writeFileSync(p, images()), /is not a directory; a data folder holds/);
  odd("a link to /dev/zero", (p) => symlinkSync("/dev/zero", p), /is not a directory/);
  odd("an empty folder", (p) => mkdirSync(p), /has no class sub-folders/);
  // Valid folders train: plain, gzipped, and gzip in two members.
  const valid = (name: string, fill: (dir: string) => void) => {
    const dir = joinPath(root, `valid-${cases.length}`);
    mkdirSync(dir, { recursive: true });
    fill(dir);
    cases.push({
      name: `idx: valid ${name}`,
      args: trainArgs(fx, dir),
      exit: 0,
      expect: [/data: 8 images in 10 classes/, /step 1 \(1 this run/],
    });
  };
  valid("plain", (d) => withImages(images(), false)(d));
  valid("two gzip members", (d) => {
    const b = images();
    writeFileSync(
      joinPath(d, `${IMAGES}.gz`),
      Buffer.concat([gzipSync(b.subarray(0, 500)), gzipSync(b.subarray(500))]),
    );
    writeFileSync(joinPath(d, LABELS), labels());
  });
  return cases;
}
