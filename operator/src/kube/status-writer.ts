// Status writes: PUT <object>/status carrying the resourceVersion the caller read (optimistic
// concurrency: a 409 means someone wrote in between, and the caller re-reads and retries), then the
// result goes into the informer cache at once so the next read does not see the older copy.
import type { Resource } from '@avec/kube';
import type { Informer, KubeObject } from './informer.js';

export interface StatusTarget {
  name: string;
  /** For namespaced kinds. */
  namespace?: string;
  /** The object as read (its metadata.resourceVersion is the precondition). */
  raw: KubeObject & Record<string, unknown>;
}

export async function replaceStatus<T extends KubeObject>(resource: Resource, cache: Informer<KubeObject>, t: StatusTarget, status: unknown, resourceVersion?: string): Promise<T> {
  const metadata = { ...(t.raw.metadata ?? {}), ...(resourceVersion !== undefined ? { resourceVersion } : {}) };
  const updated = (await resource.replaceStatus(t.name, { ...t.raw, metadata, status }, t.namespace)) as unknown as T;
  cache.upsertLocal(updated);
  return updated;
}
