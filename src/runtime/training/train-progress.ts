// The progress a training state records in its metadata (step, Adam's step, the generator and the
// data order), checked field by field on resume: a step of 1.5 or a NaN data cursor would
// otherwise run on silently and never reach a checkpoint, or draw every batch from image 0.
import { z } from "zod";
import { InputError } from "../../errors.ts";

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** One 32-bit word of the xoshiro128** state. */
const word = z.number().int().min(0).max(0xffff_ffff);

const progressSchema = z.object({
  step: count,
  adamStep: count,
  // Four state words (not all zero: xoshiro would emit zeros forever), a flag for a cached
  // normal draw, and that draw.
  rng: z
    .tuple([word, word, word, word, z.union([z.literal(0), z.literal(1)]), z.number()])
    .refine((r) => r.slice(0, 4).some((w) => w !== 0), "the four generator words are all 0"),
  data: z.object({ epoch: count, position: count }),
});

export type CheckedProgress = z.infer<typeof progressSchema>;

const FIX = "the file is damaged or was edited; resume from another copy, or start over with --force";

function parseJson(path: string, key: string, text: string | undefined): unknown {
  if (text === undefined) throw new InputError(`${path} has no ${key} metadata; ${FIX}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new InputError(`${path}: its ${key} metadata is not JSON; ${FIX}`);
  }
}

const where = (path: readonly PropertyKey[]) =>
  path.map((k, i) => (typeof k === "number" ? `[${k}]` : `${i > 0 ? "." : ""}${String(k)}`)).join("");

/** The progress metadata of a training state, every field checked; the data cursor within `images`. */
export function checkProgress(path: string, text: string | undefined, images?: number): CheckedProgress {
  const r = progressSchema.safeParse(parseJson(path, "progress", text));
  if (!r.success) {
    const issues = r.error.issues.map((i) => `progress.${where(i.path)}: ${i.message}`.replace(/\.:/, ":"));
    throw new InputError(`${path} records an invalid training progress (${issues.join("; ")}); ${FIX}`);
  }
  const p = r.data;
  if (images !== undefined && p.data.position > images)
    throw new InputError(
      `${path} records data position ${p.data.position}, past the ${images} images the run trained on; ${FIX}`,
    );
  return p;
}

/**
 * The run's settings (batch, learning rate…) the state records, when it records them: a JSON
 * object (what `settingChanges` compares), with the number of training images when present.
 */
export function checkSettings(path: string, text: string | undefined): { images?: number } | undefined {
  if (text === undefined) return undefined;
  const v = parseJson(path, "settings", text);
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new InputError(`${path}: its settings metadata is not a JSON object; ${FIX}`);
  const images = (v as { images?: unknown }).images;
  return count.safeParse(images).success ? { images: images as number } : {};
}
