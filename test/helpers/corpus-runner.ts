// The child side of test/helpers/corpus.ts: runs the CLI's `main` on each case in turn from
// argv's case list, capturing everything the case writes (its Io and any direct writes to the
// process streams), and reports each case's exit code, output, time, peak RSS and any change it
// made to the built-in prototypes (a hostile input must never reach them) over IPC.
import { readFileSync } from "node:fs";
import { main } from "../../src/cli.ts";
import { builtinsSnapshot, changedBuiltins } from "./builtins.ts";

const [listPath = "", firstArg = "0", capArg = "1536"] = process.argv.slice(2);
const cases = JSON.parse(readFileSync(listPath, "utf8")) as string[][];
const cap = Number(capArg);
const send = (m: object) => new Promise<void>((r) => process.send?.(m, () => r()));

const realOut = process.stdout.write.bind(process.stdout);
const realErr = process.stderr.write.bind(process.stderr);
let captured = "";
const capture = (chunk: string | Uint8Array): boolean => {
  captured += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
  return true;
};

let builtins = builtinsSnapshot();
for (let i = Number(firstArg); i < cases.length; i++) {
  await send({ start: i });
  captured = "";
  process.stdout.write = capture as typeof process.stdout.write;
  process.stderr.write = capture as typeof process.stderr.write;
  const t0 = performance.now();
  let exit: number;
  try {
    exit = await main(["node", "diffit", ...(cases[i] ?? [])], {
      out: (t) => capture(t.endsWith("\n") ? t : `${t}\n`),
      err: (t) => capture(t.endsWith("\n") ? t : `${t}\n`),
    });
  } catch (e) {
    // main lets only non-Error throws and DIFFIT_DEBUG errors through: report them as output.
    capture(`uncaught: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    exit = 70;
  } finally {
    process.stdout.write = realOut;
    process.stderr.write = realErr;
  }
  const rssMiB = process.resourceUsage().maxRSS / 1024;
  const now = builtinsSnapshot();
  const changed = changedBuiltins(builtins, now);
  builtins = now; // each change is blamed once, on the case that made it
  await send({ done: i, exit, output: captured, ms: performance.now() - t0, rssMiB, changed });
  if (rssMiB > cap) break;
}
process.exit(0);
