// A spec or variant name as a file-name-safe slug, e.g. `tiny[depth=1,mode=tmsa]` →
// `tiny--depth-1--mode-tmsa`: generated modules and per-variant output folders use it.
export function specSlug(name: string): string {
  return name
    .replace(/\[/g, "--")
    .replace(/\]/g, "")
    .replace(/,/g, "--")
    .replace(/=/g, "-")
    .replace(/[^A-Za-z0-9._-]/g, "_");
}
