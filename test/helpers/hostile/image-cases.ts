// Hostile and broken image folders, given to `train --data`: folders with nothing usable, and
// one bad file among class folders: PNGs and JPEGs whose headers claim huge, zero or one-pixel
// dimensions, truncated or corrupt ones, decompression bombs, other formats under an image
// name, and things that are no regular file. Each bad file is refused by name, or with
// --skip-bad skipped and counted; a folder left with no usable image is refused.
import { mkdirSync, writeFileSync } from "node:fs";
import { join as joinPath } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import jpeg from "jpeg-js";
import type { CorpusCase } from "../corpus.ts";
import { type Fixtures, pngBytes, SPECIALS, sparse } from "./fixtures.ts";
import { trainArgs } from "./idx-cases.ts";

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}

interface Ihdr {
  width: number;
  height: number;
  depth?: number;
  color?: number;
  interlace?: number;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function ihdr(h: Ihdr): Buffer {
  const d = Buffer.alloc(13);
  d.writeUInt32BE(h.width, 0);
  d.writeUInt32BE(h.height, 4);
  d[8] = h.depth ?? 8;
  d[9] = h.color ?? 6;
  d[12] = h.interlace ?? 0;
  return chunk("IHDR", d);
}

/** A PNG of an IHDR and one IDAT of `raw` (filter bytes included) deflated. */
function png(h: Ihdr, raw: Uint8Array, extra: Buffer[] = []): Buffer {
  return Buffer.concat([
    SIGNATURE,
    ihdr(h),
    ...extra,
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", new Uint8Array()),
  ]);
}

/** A 6×6 JPEG, and the same with its frame header's height and width replaced. */
function jpegBytes(): Buffer {
  const data = Buffer.alloc(6 * 6 * 4, 128);
  return Buffer.from(jpeg.encode({ data, width: 6, height: 6 }, 90).data);
}

function jpegClaiming(width: number, height: number): Buffer {
  const b = jpegBytes();
  const at = b.indexOf(Buffer.from([0xff, 0xc0]));
  b.writeUInt16BE(height, at + 5);
  b.writeUInt16BE(width, at + 7);
  return b;
}

interface BadImage {
  name: string;
  file: string;
  bytes?: Uint8Array;
  make?: (path: string) => void;
  says: RegExp;
}

function badImages(): BadImage[] {
  const cases: BadImage[] = [];
  const p = (name: string, bytes: Uint8Array, says: RegExp, file = "bad.png") =>
    cases.push({ name, file, bytes, says });
  const valid = pngBytes(6, 6, 9);
  const dims = (w: number, h: number, says: RegExp) =>
    p(`a PNG claiming ${w}×${h}`, png({ width: w, height: h }, new Uint8Array(8)), says);
  const TOO_BIG = /more than diffit decodes \(32768 a side, 64 M pixels\); resize it first/;
  dims(20000, 20000, TOO_BIG);
  dims(100000, 100000, TOO_BIG);
  dims(2 ** 31 - 1, 2 ** 31 - 1, TOO_BIG);
  dims(40000, 2, TOO_BIG);
  dims(8193, 8193, TOO_BIG);
  dims(0, 0, /the PNG header declares 0×0 pixels/);
  dims(0, 10, /declares 0×10 pixels/);
  dims(1, 1, /is 1×1 pixels, too small to train on/);
  dims(1, 500, /is 1×500 pixels, too small/);
  dims(500, 1, /is 500×1 pixels, too small/);
  dims(32769, 2, TOO_BIG);
  dims(2, 32769, TOO_BIG);
  dims(0, 1, /declares 0×1 pixels/);
  dims(1, 0, /declares 1×0 pixels/);
  for (const [color, depth] of [
    [0, 1],
    [0, 16],
    [2, 8],
    [3, 4],
    [4, 8],
    [6, 16],
  ] as const) {
    const h = { depth, color };
    p(
      `a colour-${color} ${depth}-bit PNG claiming 50000×50000`,
      png({ width: 50000, height: 50000, ...h }, new Uint8Array(8)),
      TOO_BIG,
    );
    p(
      `a colour-${color} ${depth}-bit PNG of 1×3`,
      png({ width: 1, height: 3, ...h }, new Uint8Array(16)),
      /is 1×3 pixels, too small/,
    );
  }
  for (const frac of [0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.98])
    p(
      `a PNG truncated at ${frac * 100} %`,
      valid.subarray(0, Math.floor(frac * valid.length)),
      /PNG|IHDR|truncated|cannot decode/,
    );
  p("only the PNG signature", SIGNATURE, /a PNG without its IHDR header/);
  p(
    "an IHDR of the wrong length",
    Buffer.concat([SIGNATURE, chunk("IHDR", new Uint8Array(10))]),
    /a PNG without its IHDR header/,
  );
  p(
    "a first chunk that is not IHDR",
    Buffer.concat([SIGNATURE, chunk("IDAT", new Uint8Array(13))]),
    /a PNG without its IHDR header/,
  );
  const broken = Buffer.from(valid);
  broken[29] = (broken[29] ?? 0) ^ 0xff; // inside IHDR's CRC
  p("a bad IHDR checksum", broken, /cannot decode .*bad\.png/);
  p(
    "corrupt compressed data",
    Buffer.concat([
      SIGNATURE,
      ihdr({ width: 6, height: 6 }),
      chunk("IDAT", Buffer.alloc(30, 0xee)),
      chunk("IEND", new Uint8Array()),
    ]),
    /corrupt or missing PNG image data/,
  );
  p(
    "no image data",
    Buffer.concat([SIGNATURE, ihdr({ width: 6, height: 6 }), chunk("IEND", new Uint8Array())]),
    /corrupt or missing PNG image data/,
  );
  p(
    "bit depth 3",
    png({ width: 6, height: 6, depth: 3 }, new Uint8Array(6 * 25)),
    /an invalid PNG header \(colour type 6, bit depth 3/,
  );
  p(
    "colour type 5",
    png({ width: 6, height: 6, color: 5 }, new Uint8Array(6 * 25)),
    /an invalid PNG header \(colour type 5/,
  );
  p(
    "interlace method 2",
    png({ width: 6, height: 6, interlace: 2 }, new Uint8Array(6 * 25)),
    /an invalid PNG header \(.*interlace 2\)/,
  );
  p(
    "a palette image without a palette",
    png({ width: 6, height: 6, color: 3 }, new Uint8Array(6 * 7)),
    /cannot decode .*bad\.png/,
  );
  p(
    "too little image data",
    png({ width: 64, height: 64 }, new Uint8Array(10)),
    /the PNG's data holds 10 of the 16448 bytes its pixels need/,
  );
  p(
    "an interlaced bomb (64×64 unpacking to 8 MiB)",
    png({ width: 64, height: 64, interlace: 1 }, new Uint8Array(8 * 2 ** 20)),
    /the PNG's data unpacks to more than its 64×64 pixels need/,
  );
  p(
    "a plain bomb (64×64 unpacking to 8 MiB)",
    png({ width: 64, height: 64 }, new Uint8Array(8 * 2 ** 20)),
    /cannot decode .*bad\.png|bad\.png/,
  );
  p(
    "a chunk length past the end",
    Buffer.concat([
      SIGNATURE,
      ihdr({ width: 6, height: 6, interlace: 1 }),
      Buffer.from([0x7f, 0xff, 0xff, 0xff, 0x49, 0x44, 0x41, 0x54]),
    ]),
    /a PNG truncated in its IDAT chunk/,
  );
  const j = jpegBytes();
  const TOO_BIG_J = /resize it first/;
  for (const [w, h, says] of [
    [60000, 60000, TOO_BIG_J],
    [65535, 2, TOO_BIG_J],
    [0, 6, /the JPEG header declares 0×6 pixels/],
    [6, 0, /declares 6×0 pixels/],
    [1, 6, /is 1×6 pixels, too small/],
    [9000, 9000, TOO_BIG_J],
    [1, 1, /is 1×1 pixels, too small/],
    [40000, 3, TOO_BIG_J],
  ] as const)
    p(`a JPEG claiming ${w}×${h}`, jpegClaiming(w, h), says, "bad.jpg");
  for (const frac of [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.95])
    p(
      `a JPEG truncated at ${frac * 100} %`,
      j.subarray(0, Math.floor(frac * j.length)),
      /JPEG|cannot decode|bad\.jpg/,
      "bad.jpg",
    );
  p("only the JPEG start marker", Buffer.from([0xff, 0xd8]), /a JPEG without a frame header/, "bad.jpg");
  p(
    "a JPEG with garbage after its start",
    Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.alloc(64, 0x42)]),
    /a JPEG with a corrupt marker at byte 2/,
    "bad.jpg",
  );
  p(
    "a JPEG segment of length 0",
    Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0, 1, 2]),
    /a JPEG with a corrupt segment at byte 2/,
    "bad.jpg",
  );
  p(
    "a JPEG scan before any frame",
    Buffer.from([0xff, 0xd8, 0xff, 0xda, 0, 8, 1, 2, 3, 4, 5, 6]),
    /a JPEG without a frame header/,
    "bad.jpg",
  );
  const scan = j.indexOf(Buffer.from([0xff, 0xda]));
  const lossless = Buffer.from(j);
  lossless[lossless.indexOf(Buffer.from([0xff, 0xc0])) + 1] = 0xc3;
  p(
    "a lossless JPEG (unsupported)",
    lossless,
    /cannot decode .*bad\.jpg: unknown JPEG marker ffc3/,
    "bad.jpg",
  );
  const huffman = Buffer.from(j);
  huffman[huffman.indexOf(Buffer.from([0xff, 0xc4])) + 4] = 0x77;
  p("a JPEG with a corrupt Huffman table", huffman, /cannot decode .*bad\.jpg/, "bad.jpg");
  p("a JPEG cut after its headers", j.subarray(0, scan), /cannot decode .*bad\.jpg/, "bad.jpg");
  const other = (name: string, bytes: Uint8Array) =>
    p(name, bytes, /is not a PNG or JPEG image \(by its first bytes\)/);
  other("an empty .png", new Uint8Array());
  other("text named .png", Buffer.from("not an image\n"));
  other("a zip named .png", Buffer.concat([Buffer.from("PK\x03\x04"), Buffer.alloc(40)]));
  other("a GIF named .png", Buffer.from("GIF89a\x06\x00\x06\x00", "latin1"));
  other("a BMP named .png", Buffer.concat([Buffer.from("BM"), Buffer.alloc(60)]));
  other("a WebP named .png", Buffer.concat([Buffer.from("RIFF\0\0\0\0WEBPVP8 "), Buffer.alloc(40)]));
  other("an IDX file named .png", Buffer.from([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 6, 0, 0, 0, 6]));
  other(
    "a safetensors file named .png",
    Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("{}")]),
  );
  other("one byte", Buffer.from([0x89]));
  other("a TIFF named .png", Buffer.concat([Buffer.from("II*\0"), Buffer.alloc(40)]));
  other("a PDF named .png", Buffer.from("%PDF-1.4\n"));
  other(
    "an SVG named .png",
    Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="99999" height="99999"/>'),
  );
  other("HTML named .png", Buffer.from("<!doctype html><p>404</p>"));
  for (const s of SPECIALS)
    cases.push({ name: `${s.name} named .png`, file: "bad.png", make: s.make, says: s.says });
  cases.push({
    name: "a 300 MiB sparse .png",
    file: "bad.png",
    make: (path) => sparse(path, 300 * 2 ** 20),
    says: /300 MiB, more than the 256 MiB diffit reads as a PNG or JPEG image/,
  });
  return cases;
}

export function imageCases(fx: Fixtures): CorpusCase[] {
  const root = joinPath(fx.dir, "image-cases");
  const cases: CorpusCase[] = [];
  const good = pngBytes(6, 6, 3);
  badImages().forEach((b, i) => {
    // Alone in its folder (refused by name; with --skip-bad the folder has nothing usable), and
    // beside a good image with --skip-bad (skipped, counted, and the run goes on) for some.
    const dir = joinPath(root, `case-${i}`);
    mkdirSync(joinPath(dir, "shirts"), { recursive: true });
    const path = joinPath(dir, "shirts", b.file);
    if (b.bytes) writeFileSync(path, b.bytes);
    else b.make?.(path);
    const dangling = b.name.startsWith("a dangling link") || b.name.startsWith("a link loop");
    cases.push({
      name: `images: ${b.name}`,
      args: trainArgs(fx, dir),
      exit: 1,
      expect: [path, b.says, /use --skip-bad/],
    });
    if (i % 4 === 0 || dangling)
      cases.push({
        name: `images: ${b.name}, alone, with --skip-bad`,
        args: trainArgs(fx, dir, "--skip-bad"),
        exit: 1,
        expect: [
          path,
          dir,
          /has no usable images: all 1 were unreadable or degenerate and skipped \(the first: /,
          b.says,
          /a data folder holds/,
        ],
      });
  });
  const folder = (name: string, fill: (dir: string) => void, says: RegExp) => {
    const dir = joinPath(root, `folder-${cases.length}`);
    mkdirSync(dir, { recursive: true });
    fill(dir);
    cases.push({ name: `images: ${name}`, args: trainArgs(fx, dir), exit: 1, expect: [dir, says] });
  };
  const NONE = /has no PNG or JPEG images in its class folders; a data folder holds/;
  folder(
    "only files, no class folders",
    (d) => writeFileSync(joinPath(d, "a.png"), good),
    /has no class sub-folders \(expected .*\/<class>\/<image>\.png\)/,
  );
  folder(
    "empty class folders",
    (d) => {
      mkdirSync(joinPath(d, "a"));
      mkdirSync(joinPath(d, "b"));
    },
    NONE,
  );
  folder(
    "class folders of text files",
    (d) => {
      mkdirSync(joinPath(d, "a"));
      writeFileSync(joinPath(d, "a", "notes.txt"), "x");
      writeFileSync(joinPath(d, "a", "image.gif"), "GIF89a");
    },
    NONE,
  );
  folder(
    "images in a nested folder only",
    (d) => {
      mkdirSync(joinPath(d, "a", "deeper"), { recursive: true });
      writeFileSync(joinPath(d, "a", "deeper", "x.png"), good);
    },
    NONE,
  );
  // A good image beside a bad one, with --skip-bad: trained on, the bad one counted.
  const mixed = joinPath(root, "mixed");
  mkdirSync(joinPath(mixed, "shirts"), { recursive: true });
  writeFileSync(joinPath(mixed, "shirts", "good.png"), good);
  writeFileSync(joinPath(mixed, "shirts", "good2.jpg"), pngBytes(6, 6, 4)); // a PNG named .jpg reads by content
  writeFileSync(
    joinPath(mixed, "shirts", "bad.png"),
    png({ width: 20000, height: 20000 }, new Uint8Array(8)),
  );
  cases.push({
    name: "images: a bad image beside good ones, with --skip-bad",
    args: trainArgs(fx, mixed, "--skip-bad"),
    exit: 0,
    expect: [/data: 2 images in 1 classes .*\(1 unreadable skipped\)/, /step 1 \(1 this run/],
  });
  return cases;
}
