// docs/limits.md lists every limit of src/limits.ts with its value and what it bounds (the doc
// comment), so the README's "Limits" link is always true. Refresh with UPDATE_GOLDEN=1.
import { Node, Project } from "ts-morph";
import { describe, it } from "vitest";
import { formatBytes, LIMITS, type LimitName } from "../src/limits.ts";
import { expectGolden } from "./helpers/golden.ts";

function limitsMarkdown(): string {
  const project = new Project({ useInMemoryFileSystem: false, skipAddingFilesFromTsConfig: true });
  const file = project.addSourceFileAtPath("src/limits.ts");
  const table = file.getVariableDeclarationOrThrow("LIMITS").getInitializerOrThrow();
  const object = Node.isAsExpression(table) ? table.getExpression() : table;
  if (!Node.isObjectLiteralExpression(object)) throw new Error("LIMITS is not an object literal");
  const rows: string[] = [];
  for (const prop of object.getProperties()) {
    if (!Node.isPropertyAssignment(prop)) continue;
    const name = prop.getName() as LimitName;
    const about = prop
      .getLeadingCommentRanges()
      .map((c) => c.getText())
      .filter((t) => t.startsWith("/**"))
      .map((t) =>
        t
          .replace(/^\/\*\*|\*\/$/g, "")
          .replace(/^\s*\* ?/gm, "")
          .trim()
          .replace(/\s+/g, " "),
      )
      .join(" ");
    const value = LIMITS[name];
    const shown = /Bytes$/.test(name) ? formatBytes(value) : value.toLocaleString("en-US");
    rows.push(`| \`${name}\` | ${shown} | ${about} |`);
  }
  return [
    "# Input limits",
    "",
    "diffit bounds everything it reads, so that a small or hostile file cannot turn into unbounded",
    "work or memory. Each limit is far above what a real spec, checkpoint or dataset needs;",
    "crossing one is an error (exit 1) that names the file and the limit. The values live in",
    "`src/limits.ts`; this table is generated from it (a test keeps it current).",
    "",
    "| limit | value | what it bounds |",
    "|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}

describe("docs/limits.md", () => {
  it("lists every limit of src/limits.ts", () => {
    expectGolden("docs/limits.md", limitsMarkdown());
  });
});
