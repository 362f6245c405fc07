// Status writes: PUT <object>/status carrying the resourceVersion the caller read (optimistic
// concurrency: a 409 means someone wrote in between, and the caller re-reads and retries), then the
// result goes into the informer cache at once so the next read does not see the older copy.
//
// The body is the status and the object's identity only: on the status subresource the API server
// takes everything but status from the stored object (and managedFields from it too), so sending
// spec, labels and managedFields back only costs it a larger decode. Measured on the placement
// benchmark's claims: the API server's rate of Bound status writes rises with the smaller body.
import type { Resource } from '@avec/kube';
import type { Informer, KubeObject } from './informer.js';

export interface StatusTarget {
  name: string;
  /** For namespaced kinds. */
  namespace?: string;
  /** The object as read (its metadata.resourceVersion is the precondition). */
  raw: KubeObject & Record<string, unknown>;
}

/** What a status PUT sends: kind, identity (uid and resourceVersion are preconditions) and the status. */
export function statusBody(raw: KubeObject & Record<string, unknown>, status: unknown, resourceVersion?: string): Record<string, unknown> {
  const m = (raw.metadata ?? {}) as { name?: string; namespace?: string; uid?: unknown; resourceVersion?: string };
  const metadata: Record<string, unknown> = { name: m.name };
  if (m.namespace !== undefined) metadata.namespace = m.namespace;
  if (m.uid !== undefined) metadata.uid = m.uid;
  const rv = resourceVersion ?? m.resourceVersion;
  if (rv !== undefined) metadata.resourceVersion = rv;
  return { apiVersion: raw.apiVersion, kind: raw.kind, metadata, status };
}

export async function replaceStatus<T extends KubeObject>(resource: Resource, cache: Informer<KubeObject>, t: StatusTarget, status: unknown, resourceVersion?: string): Promise<T> {
  const updated = (await resource.replaceStatus(t.name, statusBody(t.raw, status, resourceVersion), t.namespace)) as unknown as T;
  cache.upsertLocal(updated);
  return updated;
}
