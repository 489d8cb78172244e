// Golden model reports for the paper specs: any change to the IR, the shape rules or the
// MAC/parameter formulas shows up as a reviewable diff. Refresh with UPDATE_GOLDEN=1.
import { describe, it } from "vitest";
import { analyze, groupRows } from "../src/compiler/analysis.ts";
import { buildGraph } from "../src/compiler/ir/build.ts";
import { runFrontEnd } from "../src/compiler/pipeline.ts";
import { formatReport } from "../src/compiler/report.ts";
import { expectGolden } from "./helpers/golden.ts";

const SPECS = [
  "specs/diffit-cifar10.json",
  "specs/diffit-cifar10-table6.json",
  "specs/diffit-ffhq64.json",
  "specs/latent-diffit-imagenet256.json",
  "specs/latent-diffit-imagenet512.json",
  "specs/tiny-fmnist.json",
];

describe("golden model reports", () => {
  for (const file of SPECS) {
    for (const entry of runFrontEnd(file).entries) {
      it(entry.name, () => {
        const a = analyze(buildGraph(entry.spec));
        const text = `# ${entry.name} (spec sha256 ${entry.hash})\n${formatReport(a, groupRows(a.rows, 2))}`;
        expectGolden(`test/golden/${entry.name}.txt`, text);
      });
    }
  }
});
