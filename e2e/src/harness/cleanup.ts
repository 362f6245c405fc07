// Teardown registry: everything the harness starts registers how to stop it, so that a failed test,
// Ctrl-C or SIGTERM still leaves no process or temp dir behind.
import { log } from './log.js';

type Teardown = { name: string; run: () => Promise<void> | void; sync?: () => void };

const pending = new Set<Teardown>();
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
    for (const t of pending) {
      try { t.sync?.(); } catch { /* exiting anyway */ }
    }
  });
}

export interface TeardownHandle {
  /** Runs the teardown once and unregisters it. */
  run(): Promise<void>;
  /** Unregisters it without running (ownership moved elsewhere). */
  cancel(): void;
}

export function onTeardown(name: string, run: () => Promise<void> | void, sync?: () => void): TeardownHandle {
  installSignalHandlers();
  const t: Teardown = { name, run, sync };
  pending.add(t);
  return {
    run: async () => {
      if (!pending.delete(t)) return;
      await t.run();
    },
    cancel: () => void pending.delete(t),
  };
}

/** Runs every registered teardown, newest first. */
export async function runAll(): Promise<void> {
  const list = [...pending].reverse();
  pending.clear();
  for (const t of list) {
    try {
      await t.run();
    } catch (err) {
      log('error', 'teardown failed', { name: t.name, error: String(err) });
    }
  }
}
