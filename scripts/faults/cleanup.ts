// Undo actions that must run however the runner ends: normal exit, an exception, SIGINT, SIGTERM or
// SIGHUP. Each is synchronous (an 'exit' handler cannot wait) and runs at most once, last registered
// first. A SIGKILLed runner runs none: the next run's start removes what it left (net.ts healAll,
// the members' watchdogs in cluster.ts).

type Undo = () => void;

const undos = new Map<number, { what: string; run: Undo }>();
let nextId = 1;
let installed = false;

function runAll(): void {
  const ids = [...undos.keys()].sort((a, b) => b - a);
  for (const id of ids) {
    const u = undos.get(id);
    undos.delete(id);
    try {
      u?.run();
    } catch (err) {
      process.stderr.write(`faults cleanup: ${u?.what}: ${(err as Error).message}\n`);
    }
  }
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      runAll();
      process.exit(128 + SIGNAL_NUMBERS[signal]);
    });
  }
}

/** Registers `run` to be done at exit unless released first; returns the release. */
export function onCleanup(what: string, run: Undo): () => void {
  install();
  const id = nextId++;
  undos.set(id, { what, run });
  return () => void undos.delete(id);
}

/** Runs every registered undo now (a run's end), leaving the handlers installed. */
export function cleanupNow(): void {
  runAll();
}
