// Runs a reconcile function over a work queue with N workers: success forgets the key's backoff
// (and requeues after `requeueAfterMs` if asked), failure requeues with per-key backoff.
import type { WorkQueue } from './work-queue.js';
import { type Logger, errorMessage } from '@avec/common';
import { isStatus } from '@avec/kube';

export interface ReconcileResult {
  requeueAfterMs?: number;
}
export type Reconciler = (key: string) => Promise<ReconcileResult>;

export function runWorkers(name: string, queue: WorkQueue, workers: number, reconcile: Reconciler, log: Logger, onDone?: (ok: boolean) => void): Promise<void[]> {
  const one = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        const r = await reconcile(key);
        queue.forget(key);
        if (r.requeueAfterMs !== undefined) queue.addAfter(key, r.requeueAfterMs);
        onDone?.(true);
      } catch (err) {
        const delay = queue.addRateLimited(key);
        onDone?.(false);
        // Conflicts are the normal outcome of optimistic concurrency: retry quietly.
        const lvl = isStatus(err, 409) ? 'debug' : 'warn';
        log[lvl]('reconcile failed; retrying', { controller: name, key, retryInMs: delay, error: errorMessage(err) });
      } finally {
        queue.done(key);
      }
    }
  };
  return Promise.all(Array.from({ length: workers }, one));
}
