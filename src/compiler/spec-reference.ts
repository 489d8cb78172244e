// Generates the spec reference (docs/spec-reference.md) from the JSON Schema, which is itself
// generated from the zod source: field names, types, defaults and descriptions have one home.
import { specJsonSchema } from "./json-schema.ts";
import { markdownTable } from "./report.ts";

interface Js {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  properties?: Record<string, Js>;
  required?: string[];
  items?: Js | false;
  prefixItems?: Js[];
  anyOf?: Js[];
  oneOf?: Js[];
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  exclusiveMaximum?: number;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function typeOf(s: Js): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((e) => JSON.stringify(e)).join(" \\| ");
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return alts.map(typeOf).join(" \\| ");
  if (s.prefixItems) return `[${s.prefixItems.map(typeOf).join(", ")}]`;
  if (s.type === "array" && s.items) return `${typeOf(s.items)}[]`;
  const base = Array.isArray(s.type) ? s.type.join(" \\| ") : (s.type ?? "any");
  const lo =
    s.exclusiveMinimum !== undefined
      ? `> ${s.exclusiveMinimum}`
      : s.minimum !== undefined
        ? `≥ ${s.minimum}`
        : "";
  const hi =
    s.exclusiveMaximum !== undefined
      ? `< ${s.exclusiveMaximum}`
      : s.maximum !== undefined && s.maximum < MAX_SAFE
        ? `≤ ${s.maximum}`
        : "";
  const range = [lo, hi].filter(Boolean).join(", ");
  return range ? `${base} (${range})` : base;
}

function rows(s: Js, prefix: string, out: string[][]): void {
  for (const [key, field] of Object.entries(s.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    const required = s.required?.includes(key) ?? false;
    const variants = field.oneOf?.filter((o) => o.properties);
    const isObject = field.type === "object" && field.properties;
    const isObjectArray = field.type === "array" && field.items && field.items.type === "object";
    const dflt =
      field.default === undefined || isObject
        ? required
          ? "required"
          : ""
        : `\`${JSON.stringify(field.default)}\``;
    if (variants && variants.length > 0) {
      out.push([`\`${path}\``, "one of below", dflt, field.description ?? ""]);
      for (const v of variants) {
        const tag = Object.entries(v.properties ?? {}).find(([, p]) => p.const !== undefined);
        rows(v, `${path}(${tag ? `${tag[0]}: ${JSON.stringify(tag[1].const)}` : "?"})`, out);
      }
    } else if (isObject) {
      out.push([`\`${path}\``, "object", required ? "required" : "", field.description ?? ""]);
      rows(field, path, out);
    } else if (isObjectArray && field.items) {
      out.push([`\`${path}\``, "array of objects", dflt, field.description ?? ""]);
      rows(field.items, `${path}[]`, out);
    } else {
      out.push([`\`${path}\``, typeOf(field), dflt, field.description ?? ""]);
    }
  }
}

export function specReferenceMarkdown(): string {
  const schema = specJsonSchema() as Js;
  const families = (schema.anyOf?.[0]?.oneOf ?? []) as Js[];
  const parts = [
    "# Spec reference",
    "",
    "Generated from the zod schema (`src/compiler/schema/`) by `diffit schema --reference`; do not edit by hand.",
    "Defaults marked with a source tag come from the paper ([P]), the official code ([OFF]) or a reimplementation",
    "([Om], [Fed], ...), as listed in DIFFIT.md. Every spec may also carry `$schema`, `extends` and `variants`.",
  ];
  for (const f of families) {
    const fam = JSON.stringify(f.properties?.family?.const);
    parts.push("", `## family: ${fam}`, "", f.description ?? "", "");
    const out: string[][] = [];
    rows(f, "", out);
    parts.push(markdownTable(["field", "type", "default", "description"], out));
  }
  return `${parts.join("\n")}\n`;
}
