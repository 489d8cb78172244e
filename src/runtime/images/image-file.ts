// Reading one PNG or JPEG file, bounded: the format is told from the first bytes (not the name),
// the width and height are read from the header and checked against LIMITS before anything is
// decoded (a 69-byte PNG can claim 20000×20000 pixels), and a PNG's compressed data may not
// unpack to more than its dimensions need.
import { inflateSync } from "node:zlib";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { InputError } from "../../errors.ts";
import { readRegularFile } from "../../files.ts";
import { LIMITS } from "../../limits.ts";

export interface DecodedImage {
  width: number;
  height: number;
  /** width × height × 4 bytes, RGBA. */
  rgba: Uint8Array;
}

interface PngHeader {
  format: "png";
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlace: number;
}

interface JpegHeader {
  format: "jpeg";
  width: number;
  height: number;
}

export type ImageHeader = PngHeader | JpegHeader;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Samples per pixel of each PNG colour type, and the bit depths it allows. */
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const PNG_DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

const be16 = (b: Uint8Array, at: number) => ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
const be32 = (b: Uint8Array, at: number) => (be16(b, at) * 65536 + be16(b, at + 2)) >>> 0;
const ascii = (b: Uint8Array, at: number, n: number) => String.fromCharCode(...b.subarray(at, at + n));

function pngHeader(b: Uint8Array, file: string): PngHeader {
  if (b.length < 33 || be32(b, 8) !== 13 || ascii(b, 12, 4) !== "IHDR")
    throw new InputError(`${file}: a PNG without its IHDR header (truncated or corrupt)`);
  const [depth = 0, colorType = 0, compression, filter, interlace = 0] = b.subarray(24, 29);
  const depths = PNG_DEPTHS[colorType];
  if (!depths?.includes(depth) || compression !== 0 || filter !== 0 || interlace > 1)
    throw new InputError(
      `${file}: an invalid PNG header (colour type ${colorType}, bit depth ${depth}, compression ${compression}, filter ${filter}, interlace ${interlace})`,
    );
  return {
    format: "png",
    width: be32(b, 16),
    height: be32(b, 20),
    depth: b[24] ?? 0,
    colorType: b[25] ?? 0,
    interlace: b[28] ?? 0,
  };
}

/** Start-of-frame markers (baseline, progressive, lossless…), which carry the dimensions. */
const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

function jpegHeader(b: Uint8Array, file: string): JpegHeader {
  let at = 2;
  while (at + 4 <= b.length) {
    if (b[at] !== 0xff) throw new InputError(`${file}: a JPEG with a corrupt marker at byte ${at}`);
    const marker = b[at + 1] ?? 0;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2; // markers without a length
      continue;
    }
    if (marker === 0xda || marker === 0xd9) break; // scan data or end, and no frame header yet
    const length = be16(b, at + 2);
    if (isSof(marker)) {
      if (length < 8 || at + 9 > b.length) break;
      return { format: "jpeg", height: be16(b, at + 5), width: be16(b, at + 7) };
    }
    if (length < 2) throw new InputError(`${file}: a JPEG with a corrupt segment at byte ${at}`);
    at += 2 + length;
  }
  throw new InputError(`${file}: a JPEG without a frame header (truncated or corrupt)`);
}

/** The format and dimensions from a file's first bytes, or an error naming what it is not. */
export function imageHeader(b: Uint8Array, file: string): ImageHeader {
  if (PNG_SIGNATURE.every((v, i) => b[i] === v)) return pngHeader(b, file);
  if (b[0] === 0xff && b[1] === 0xd8) return jpegHeader(b, file);
  throw new InputError(`${file} is not a PNG or JPEG image (by its first bytes)`);
}

/** Refuses dimensions that are degenerate or too large, before any decoding. */
export function checkDimensions(h: ImageHeader, file: string): void {
  const { width, height } = h;
  if (width === 0 || height === 0)
    throw new InputError(`${file}: the ${h.format.toUpperCase()} header declares ${width}×${height} pixels`);
  if (Math.min(width, height) < LIMITS.imageMinSide)
    throw new InputError(
      `${file} is ${width}×${height} pixels, too small to train on (at least ${LIMITS.imageMinSide} a side)`,
    );
  if (width > LIMITS.imageSide || height > LIMITS.imageSide || width * height > LIMITS.imagePixels)
    throw new InputError(
      `${file} is ${width}×${height} pixels, more than diffit decodes (${LIMITS.imageSide} a side, ${LIMITS.imagePixels / 2 ** 20} M pixels); resize it first`,
    );
}

/** The PNG's IDAT bytes, walking the chunk list (a truncated chunk is an error). */
function pngData(b: Uint8Array, file: string): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = 8;
  while (at + 8 <= b.length) {
    const length = be32(b, at);
    const type = ascii(b, at + 4, 4);
    if (at + 12 + length > b.length) throw new InputError(`${file}: a PNG truncated in its ${type} chunk`);
    if (type === "IDAT") parts.push(b.subarray(at + 8, at + 8 + length));
    if (type === "IEND") break;
    at += 12 + length;
  }
  return Buffer.concat(parts);
}

/** Bytes a PNG's image data unpacks to: rows with a filter byte each, seven sub-images if interlaced. */
function pngDataBytes(h: PngHeader): number {
  const bits = (PNG_CHANNELS[h.colorType] ?? 4) * h.depth;
  const rows = (w: number, n: number) => (w > 0 && n > 0 ? n * (Math.ceil((w * bits) / 8) + 1) : 0);
  if (h.interlace !== 1) return rows(h.width, h.height);
  const passes = [
    [0, 0, 8, 8],
    [4, 0, 8, 8],
    [0, 4, 4, 8],
    [2, 0, 4, 4],
    [0, 2, 2, 4],
    [1, 0, 2, 2],
    [0, 1, 1, 2],
  ] as const;
  let total = 0;
  for (const [x0, y0, dx, dy] of passes)
    total += rows(Math.ceil((h.width - x0) / dx), Math.ceil((h.height - y0) / dy));
  return total;
}

/**
 * pngjs inflates interlaced PNGs without bound, and hands corrupt or missing data on as
 * uninitialised memory (a different "image" each run): the data is checked here first, to unpack
 * to exactly the bytes the header's dimensions need.
 */
function checkPngData(b: Buffer, h: PngHeader, file: string): void {
  const expected = pngDataBytes(h);
  let out: Buffer;
  try {
    out = inflateSync(pngData(b, file), { maxOutputLength: expected });
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(
      (e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE"
        ? `${file}: the PNG's data unpacks to more than its ${h.width}×${h.height} pixels need (a corrupt or hostile file)`
        : `${file}: corrupt or missing PNG image data (${e instanceof Error ? e.message : e})`,
    );
  }
  if (out.length < expected)
    throw new InputError(
      `${file}: the PNG's data holds ${out.length} of the ${expected} bytes its pixels need (truncated?)`,
    );
}

function decodePng(b: Buffer, h: PngHeader, file: string): DecodedImage {
  checkPngData(b, h, file);
  const png = PNG.sync.read(b);
  return { width: png.width, height: png.height, rgba: png.data };
}

/**
 * One image file as RGBA: a regular file of at most LIMITS.imageFileBytes, a PNG or JPEG by its
 * content, with dimensions inside the limits. Errors are InputErrors that name the file.
 */
export function decodeImageFile(file: string): DecodedImage {
  const b = readRegularFile(file, { what: "PNG or JPEG image", maxBytes: LIMITS.imageFileBytes });
  const h = imageHeader(b, file);
  checkDimensions(h, file);
  try {
    if (h.format === "png") return decodePng(b, h, file);
    const img = jpeg.decode(b, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: LIMITS.imagePixels / 1e6,
      maxMemoryUsageInMB: 1024,
    });
    if (img.width !== h.width || img.height !== h.height || img.data.length !== img.width * img.height * 4)
      throw new Error(`decoded ${img.width}×${img.height}, the header says ${h.width}×${h.height}`);
    return { width: img.width, height: img.height, rgba: img.data };
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot decode ${file}: ${e instanceof Error ? e.message : e}`);
  }
}
