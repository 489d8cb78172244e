// Ctrl-C (SIGINT), SIGTERM (what schedulers and `kill` send) and SIGHUP (a closed terminal, or
// the CLI's launcher gone: huge-pages.ts) all mean "stop". While a training loop watches for
// them, the first one asks it to stop at the next step boundary with a checkpoint, and a second
// one ends the process at once. Outside a loop, or on that second signal, the process dies by
// the signal as it would without handlers, but first runs the registered cleanups (releasing
// output-folder locks), which also run on every ordinary exit.
import { constants } from "node:os";

export const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** A signal as a message names it. */
export function signalName(signal: StopSignal): string {
  return signal === "SIGINT" ? "Ctrl-C (SIGINT)" : signal;
}

interface Watcher {
  signal: StopSignal | undefined;
  onRequest: (signal: StopSignal) => void;
}

const watchers = new Set<Watcher>();
const cleanups = new Set<() => void>();
let installed = false;
let exitHooked = false;

function runCleanups(): void {
  for (const cleanup of [...cleanups]) {
    try {
      cleanup();
    } catch {
      // A cleanup that fails (a lock file already gone) must not stop the others.
    }
  }
}

function onSignal(signal: StopSignal): void {
  const waiting = [...watchers].filter((w) => w.signal === undefined);
  if (waiting.length > 0) {
    for (const w of waiting) {
      w.signal = signal;
      w.onRequest(signal);
    }
    return;
  }
  runCleanups();
  setInstalled(false);
  process.kill(process.pid, signal); // default action now: the process ends by the signal
  process.exit(128 + constants.signals[signal]); // not reached where the signal ends it at once
}

function setInstalled(on: boolean): void {
  if (on === installed) return;
  installed = on;
  for (const s of STOP_SIGNALS) {
    if (on) process.on(s, onSignal);
    else process.off(s, onSignal);
  }
}

const update = () => setInstalled(watchers.size + cleanups.size > 0);

/**
 * Registers `cleanup` to run once the process ends: on an ordinary exit, on process.exit(), and
 * before it dies by SIGINT, SIGTERM or SIGHUP (not SIGKILL, which nothing can catch). Returns
 * the function that unregisters it.
 */
export function onExitCleanup(cleanup: () => void): () => void {
  if (!exitHooked) {
    exitHooked = true;
    process.on("exit", runCleanups);
  }
  cleanups.add(cleanup);
  update();
  return () => {
    cleanups.delete(cleanup);
    update();
  };
}

export interface StopRequests {
  /** The signal that asked to stop, once one has. */
  readonly signal: StopSignal | undefined;
  /** Stops watching: signals act as outside a loop again. */
  dispose(): void;
}

/** Watches for a stop signal: the first one is recorded (and `onRequest` told), a second one ends the process. */
export function watchStopSignals(onRequest: (signal: StopSignal) => void = () => {}): StopRequests {
  const w: Watcher = { signal: undefined, onRequest };
  watchers.add(w);
  update();
  return {
    get signal() {
      return w.signal;
    },
    dispose() {
      watchers.delete(w);
      update();
    },
  };
}
