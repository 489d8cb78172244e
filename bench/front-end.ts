// Times the compiler front end per spec file: read + compose + validate + resolve (runFrontEnd),
// then IR construction and analysis for every resolved spec (variants included).
import { readdirSync } from "node:fs";
import { analyze } from "../src/compiler/analysis.ts";
import { buildGraph } from "../src/compiler/ir/build.ts";
import { runFrontEnd } from "../src/compiler/pipeline.ts";

export interface FrontEndRow {
  file: string;
  specs: number;
  /** Median over the repetitions, milliseconds. */
  frontEndMs: number;
  irMs: number;
  analysisMs: number;
  totalMs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

export function specFiles(dir = "specs"): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json") || f.endsWith(".ts"))
    .sort()
    .map((f) => `${dir}/${f}`);
}

export function benchFrontEnd(files: readonly string[], repeats: number, typecheck: boolean): FrontEndRow[] {
  return files.map((file) => {
    const fe: number[] = [];
    const ir: number[] = [];
    const an: number[] = [];
    let specs = 0;
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      const r = runFrontEnd(file, { typecheck });
      const t1 = performance.now();
      if (!r.ok) throw new Error(`${file} is invalid`);
      const graphs = r.entries.map((e) => buildGraph(e.spec));
      const t2 = performance.now();
      for (const g of graphs) analyze(g);
      const t3 = performance.now();
      fe.push(t1 - t0);
      ir.push(t2 - t1);
      an.push(t3 - t2);
      specs = r.entries.length;
    }
    const row = { file, specs, frontEndMs: median(fe), irMs: median(ir), analysisMs: median(an) };
    return { ...row, totalMs: row.frontEndMs + row.irMs + row.analysisMs };
  });
}
