// Teardown registry: everything the harness starts registers how to stop it, so that a failed test,
// Ctrl-C or SIGTERM still leaves no process or temp dir behind. A teardown runs at most once; a
// caller that asks for it while it is already running (e.g. stop() during a signal teardown) waits
// for that run instead of returning early.
import { log } from './log.js';

interface Teardown {
  name: string;
  run: () => Promise<void> | void;
  sync?: () => void;
  running?: Promise<void>;
  done?: boolean;
}

const registered = new Set<Teardown>();
let installed = false;

function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      log('warn', 'signal received, tearing down', { signal: sig });
      void runAll().finally(() => process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1)));
    });
  }
  // Last resort when the process exits without awaiting teardown: synchronous kills only.
  process.once('exit', () => {
    for (const t of registered) {
      if (t.done) continue;
      try { t.sync?.(); } catch { /* exiting anyway */ }
    }
  });
}

function start(t: Teardown): Promise<void> {
  t.running ??= (async () => {
    try {
      await t.run();
    } finally {
      t.done = true;
      registered.delete(t);
    }
  })();
  return t.running;
}

export interface TeardownHandle {
  /** Runs the teardown (once; concurrent callers share the run) and unregisters it. */
  run(): Promise<void>;
  /** Unregisters it without running (ownership moved elsewhere). */
  cancel(): void;
}

export function onTeardown(name: string, run: () => Promise<void> | void, sync?: () => void): TeardownHandle {
  installSignalHandlers();
  const t: Teardown = { name, run, sync };
  registered.add(t);
  return {
    run: () => (t.done && !t.running ? Promise.resolve() : start(t)),
    cancel: () => {
      if (!t.running) {
        t.done = true;
        registered.delete(t);
      }
    },
  };
}

/** Runs every registered teardown, newest first. */
export async function runAll(): Promise<void> {
  for (const t of [...registered].reverse()) {
    try {
      await start(t);
    } catch (err) {
      log('error', 'teardown failed', { name: t.name, error: String(err) });
    }
  }
}
