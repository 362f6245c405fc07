// Status writes: PUT <object>/status carrying the resourceVersion the caller read (optimistic
// concurrency: a 409 means someone wrote in between, and the caller re-reads and retries), then the
// result goes into the informer cache at once so the next read does not see the older copy.
import type { KubeApi } from '@avec/kube';
import type { Informer, KubeObject } from './informer.js';

export interface StatusTarget {
  /** Object path without /status. */
  path: string;
  /** The object as read (its metadata.resourceVersion is the precondition). */
  raw: KubeObject & Record<string, unknown>;
}

export async function replaceStatus<T extends KubeObject>(api: KubeApi, cache: Informer<KubeObject>, t: StatusTarget, status: unknown, resourceVersion?: string): Promise<T> {
  const metadata = { ...(t.raw.metadata ?? {}), ...(resourceVersion !== undefined ? { resourceVersion } : {}) };
  const updated = await api.request<T>('PUT', `${t.path}/status`, { ...t.raw, metadata, status });
  cache.upsertLocal(updated);
  return updated;
}
