// The spec language: a discriminated union of the two model families, plus the
// file-level composition keys ($schema, extends, variants) that disappear on resolve.
import { z } from "zod";
import { imageFamily } from "./image.ts";
import { latentFamily } from "./latent.ts";

export const modelSpec = z.discriminatedUnion("family", [imageFamily, latentFamily]);

/** A spec after zod parsing: every default filled in except the derived ones (see resolve-defaults.ts). */
export type ParsedSpec = z.output<typeof modelSpec>;
/** What a user writes (fields with defaults are optional). */
export type SpecInput = z.input<typeof modelSpec>;

/** A JSON value, for variant settings. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export const jsonValue: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(jsonValue),
    z.record(z.string(), jsonValue),
  ]),
);

export const variantsSection = z
  .strictObject({
    matrix: z
      .record(z.string(), z.array(jsonValue).min(1))
      .optional()
      .describe(
        'Every combination of these settings becomes a variant. Keys are paths: "depth", "stages[*].windowSize".',
      ),
    include: z
      .array(
        z.strictObject({
          name: z.string().min(1).describe("Variant name."),
          set: z.record(z.string(), jsonValue).describe("Settings by path, as in matrix."),
        }),
      )
      .optional()
      .describe("Named variants added to the matrix."),
  })
  .describe("Variants derived from this spec. A spec with variants resolves to its variants only.");

export type VariantsSection = z.output<typeof variantsSection>;

/** Keys a spec file may carry beside the model fields. */
export const fileKeys = z.strictObject({
  $schema: z.string().optional().describe("Path or URL of the JSON Schema, for editors."),
  extends: z
    .string()
    .optional()
    .describe("Spec file this one derives from; its fields are deep-merged under this one's."),
  variants: variantsSection.optional(),
});

export const COMPOSITION_KEYS = ["$schema", "extends", "variants"] as const;

const derivedKeys = { ...fileKeys.shape, extends: z.string().describe("Spec file this one derives from.") };

/**
 * The schema published as JSON Schema for editors: a complete spec of either family, or a
 * derived spec (with `extends`) whose top-level fields are all optional.
 */
export const specFileSchema = z.union([
  z.discriminatedUnion("family", [
    imageFamily.extend(fileKeys.shape).describe(imageFamily.description ?? ""),
    latentFamily.extend(fileKeys.shape).describe(latentFamily.description ?? ""),
  ]),
  imageFamily.partial().extend(derivedKeys),
  latentFamily.partial().extend(derivedKeys),
]);

export type SpecFileInput = z.input<typeof specFileSchema>;
