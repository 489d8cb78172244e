// Files that ship with diffit (the embedded data subset, the demo's spec and checkpoint), found
// from the package's own folder so that defaults work whatever the working directory. Shown
// relative to the working directory when they lie under it, as users typed them before.
import { isAbsolute, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export function packageFile(path: string, cwd = process.cwd()): string {
  const absolute = `${ROOT}${path}`;
  const rel = relative(cwd, absolute);
  return rel.startsWith("..") || isAbsolute(rel) ? absolute : rel;
}
