// Inputs of the latent-data tests: a folder of small PNG classes, a small latent spec, and the
// CLI run in-process.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { main } from "../../src/cli.ts";
import { writePng } from "../../src/runtime/images/png.ts";

/** The RGBA bytes of image `i` of class `k`: a distinct seeded pattern per image. */
export function patternRgba(k: number, i: number, size: number): Uint8Array {
  const data = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const p = 4 * (y * size + x);
      data[p] = (x * (3 + i) + y * 7 * (k + 1)) % 256;
      data[p + 1] = ((x ^ y) * (i + 2) + 40 * k) % 256;
      data[p + 2] = (k * 150 + ((x + y) * (i + 1)) / 2) % 256;
      data[p + 3] = 255;
    }
  return data;
}

/** Writes `<dir>/<class>/<i>.png`, `perClass` images of size×size per class; returns dir. */
export function writeImageFolder(dir: string, classes: string[], perClass: number, size: number): string {
  classes.forEach((name, k) => {
    mkdirSync(join(dir, name), { recursive: true });
    for (let i = 0; i < perClass; i++)
      writePng(join(dir, name, `${i}.png`), { width: size, height: size, data: patternRgba(k, i, size) });
  });
  return dir;
}

/** A small latent spec file: 8×8×4 latents (64² images through an f=8 VAE), patch 2, one block. */
export function writeLatentSpec(path: string, classes: number, size = 8): string {
  const spec = {
    family: "latent",
    name: "latent-test",
    input: { size, channels: 4 },
    patchSize: 2,
    hidden: 32,
    depth: 1,
    heads: 2,
    mlpRatio: 2,
    conditioning: { classes },
  };
  writeFileSync(path, JSON.stringify(spec));
  return path;
}

/** `diffit <args>` in this process: exit code, stdout, stderr. */
export async function diffit(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(["node", "diffit", ...args], {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/** `diffit encode` of `data` with `encoder` for `spec` into `out`, without a progress bar. */
export const encodeWith = (encoder: string, data: string, spec: string, out: string, ...more: string[]) =>
  diffit(
    "encode",
    "--vae-encoder",
    encoder,
    "--data",
    data,
    "--spec",
    spec,
    "-o",
    out,
    "--no-progress",
    ...more,
  );
