// Polling with a deadline; the error says what was awaited and the last observation.
export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What we are waiting for, for the error message. */
  what: string;
}

/** Thrown from a probe to stop waiting at once (e.g. the awaited process died). */
export class WaitAborted extends Error {}

export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  opts: WaitOptions,
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 200;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (err) {
      if (err instanceof WaitAborted) throw err;
      last = err instanceof Error ? err.message : err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what} (last: ${String(last)})`);
    }
    await sleep(intervalMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
