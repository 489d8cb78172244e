// Runs a corpus of hostile or broken inputs through the CLI, each under a time and memory cap.
// The cases run one after another in a child process (test/helpers/corpus-runner.ts) that calls
// the CLI's `main` in-process, so a corpus of hundreds costs one start-up, not hundreds. A case
// that hangs past its time cap, aborts the child (out of memory, a native crash) or pushes its
// peak RSS past the cap is recorded as such, and the child is restarted at the next case.
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export interface CorpusCase {
  /** Unique; says what is hostile or broken about the input. */
  name: string;
  /** CLI arguments after `diffit` (relative paths are relative to the run's cwd). */
  args: string[];
  /** Expected exit code (0 ok, 1 invalid input, 2 usage). */
  exit: number;
  /** Each must occur in the case's combined stdout and stderr. */
  expect: (string | RegExp)[];
}

export interface CorpusResult {
  name: string;
  /** The exit code `main` returned, or how the case ended without one. */
  exit: number | "hang" | "crash";
  output: string;
  ms: number;
  /** The child's peak RSS after the case, MiB. */
  rssMiB: number;
  /** Built-in prototypes and constructors the case changed (see builtins.ts); empty when none. */
  changed?: string[];
}

export interface CorpusOptions {
  cwd?: string;
  /** Wall-clock cap per case (default 20 s). */
  timeoutMs?: number;
  /** Peak-RSS cap of the child after any case (default 1536 MiB; the runtimes alone take ~400). */
  rssCapMiB?: number;
  /** V8 heap cap of the child (default 1024 MiB): a runaway JS heap aborts instead of swapping. */
  heapCapMiB?: number;
  env?: NodeJS.ProcessEnv;
}

type Message =
  | { start: number }
  | { done: number; exit: number; output: string; ms: number; rssMiB: number; changed: string[] };

const RUNNER = resolve(import.meta.dirname, "corpus-runner.ts");

/** Runs every case; never throws for a misbehaving case, only records it. */
export async function runCorpus(
  cases: readonly CorpusCase[],
  options: CorpusOptions = {},
): Promise<CorpusResult[]> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const dir = mkdtempSync(join(tmpdir(), "diffit-corpus-"));
  const list = join(dir, "cases.json");
  writeFileSync(list, JSON.stringify(cases.map((c) => c.args)));
  const results: CorpusResult[] = [];
  try {
    let next = 0;
    while (next < cases.length) next = await runFrom(next);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;

  function runFrom(first: number): Promise<number> {
    return new Promise((done) => {
      const cap = String(options.rssCapMiB ?? 1536);
      const child: ChildProcess = fork(RUNNER, [list, String(first), cap], {
        cwd: options.cwd ?? process.cwd(),
        env: { ...process.env, DIFFIT_HUGE_PAGES: "0", ...options.env },
        execArgv: ["--import", "tsx", `--max-old-space-size=${options.heapCapMiB ?? 1024}`],
        stdio: ["ignore", "pipe", "pipe", "ipc"],
      });
      let current = first;
      let inCase = false;
      let started = 0;
      let timer: NodeJS.Timeout | undefined;
      let stray = "";
      child.stdout?.on("data", (d: Buffer) => {
        stray += d.toString();
      });
      child.stderr?.on("data", (d: Buffer) => {
        stray += d.toString();
      });
      const end = (how: "hang" | "crash") => {
        const c = cases[current];
        if (c)
          results.push({
            name: c.name,
            exit: how,
            output: stray,
            ms: performance.now() - started,
            rssMiB: 0,
          });
        done(current + 1);
      };
      child.on("message", (m: Message) => {
        if ("start" in m) {
          current = m.start;
          inCase = true;
          started = performance.now();
          stray = "";
          timer = setTimeout(() => {
            child.removeAllListeners("exit");
            child.kill("SIGKILL");
            end("hang");
          }, timeoutMs);
          return;
        }
        clearTimeout(timer);
        inCase = false;
        const c = cases[m.done];
        if (c)
          results.push({
            name: c.name,
            exit: m.exit,
            output: m.output + stray,
            ms: m.ms,
            rssMiB: m.rssMiB,
            changed: m.changed,
          });
        current = m.done + 1;
      });
      // The runner exits after the last case, or after a case that took its RSS over the cap (a
      // fresh child then measures the next case from a clean start).
      child.on("exit", () => {
        clearTimeout(timer);
        if (inCase) end("crash");
        else done(current);
      });
    });
  }
}

const STACK_LINE = /^\s+at .*(:\d+:\d+\)?|\(native\)|<anonymous>)\s*$/m;

/** What is wrong with each result, as one line per problem ("" when the corpus passed). */
export function corpusFailures(
  cases: readonly CorpusCase[],
  results: readonly CorpusResult[],
  options: CorpusOptions = {},
): string[] {
  const cap = options.rssCapMiB ?? 1536;
  const problems: string[] = [];
  for (const c of cases) {
    const r = results.find((x) => x.name === c.name);
    if (!r) {
      problems.push(`${c.name}: no result`);
      continue;
    }
    const said = r.output.trim().split("\n").slice(-3).join(" | ");
    if (r.exit !== c.exit) problems.push(`${c.name}: exit ${r.exit}, expected ${c.exit} (${said})`);
    if (STACK_LINE.test(r.output)) problems.push(`${c.name}: printed a stack trace (${said})`);
    for (const what of r.changed ?? []) problems.push(`${c.name}: changed the built-in ${what}`);
    if (r.rssMiB > cap)
      problems.push(`${c.name}: peak RSS ${r.rssMiB.toFixed(0)} MiB over the ${cap} MiB cap`);
    for (const e of c.expect) {
      const hit = typeof e === "string" ? r.output.includes(e) : e.test(r.output);
      if (!hit) problems.push(`${c.name}: output lacks ${String(e)} (${said})`);
    }
  }
  return problems;
}
