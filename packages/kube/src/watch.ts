// A watch stream as a promise, on client-node's Watch: events are handed over as they arrive; the
// promise resolves when the server ends the stream (the caller resumes from the last resourceVersion)
// or `signal` aborts, and rejects with a KubeError on an ERROR event (410: relist) or a failure.
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { toKubeError, watchStatusError } from './errors.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface WatchOptions {
  resourceVersion?: string;
  labelSelector?: string;
  /** The server closes the stream after this long (default 300); the caller then resumes. */
  timeoutSeconds?: number;
}

export async function watchPath(
  kc: KubeConfig,
  path: string,
  opts: WatchOptions,
  onEvent: (type: WatchEventType, obj: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  if (signal.aborted) return;
  const what = `watch ${path}`;
  let failure: Error | undefined;
  let stop = (): void => {};
  const ended = new Promise<void>((resolve, reject) => {
    stop = () => (failure ? reject(failure) : resolve());
  });
  const query = {
    allowWatchBookmarks: true,
    timeoutSeconds: opts.timeoutSeconds ?? 300,
    ...(opts.resourceVersion ? { resourceVersion: opts.resourceVersion } : {}),
    ...(opts.labelSelector ? { labelSelector: opts.labelSelector } : {}),
  };
  let req: AbortController | undefined;
  const onAbort = (): void => {
    req?.abort();
    stop();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    req = await new Watch(kc).watch(
      path,
      query,
      (type, obj) => {
        if (failure || signal.aborted) return;
        if (type === 'ERROR') {
          failure = watchStatusError(obj, what);
          req?.abort();
          return;
        }
        onEvent(type as WatchEventType, obj);
      },
      (err: unknown) => {
        // client-node's inactivity timeout ends a quiet stream like a server close: resume, do not fail.
        const quiet = (err as { name?: string } | null)?.name === 'TimeoutError';
        if (err && !quiet && !signal.aborted && !failure) failure = toKubeError(err, what);
        stop();
      },
    );
    if (signal.aborted) req.abort();
    await ended;
  } catch (err) {
    if (!signal.aborted) throw toKubeError(err, what);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
