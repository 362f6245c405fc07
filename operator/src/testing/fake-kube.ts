// An in-memory stand-in for the API server's REST semantics that unit tests of controller logic
// need: resourceVersion preconditions (409), status subresources, finalizers, list + watch.
// Integration tests use the real kube-apiserver (e2e/); this only makes races reproducible in
// milliseconds.
import { KubeError, type KubeApi, type WatchEventType } from '@avec/kube';

interface Obj {
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; generation?: number; finalizers?: string[]; deletionTimestamp?: string; labels?: Record<string, string>; annotations?: Record<string, string>; generateName?: string; creationTimestamp?: string };
  status?: unknown;
  [k: string]: unknown;
}

interface Parsed {
  resource: string;
  ns?: string;
  name?: string;
  status: boolean;
}

/** RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function parse(path: string): Parsed {
  const p = path.split('?')[0].split('/').filter(Boolean);
  let i = p[0] === 'api' ? 2 : 3;
  let ns: string | undefined;
  if (p[i] === 'namespaces' && p.length > i + 2) {
    ns = p[i + 1];
    i += 2;
  }
  return { resource: p[i], ns, name: p[i + 1], status: p[i + 2] === 'status' };
}

export class FakeKube implements KubeApi {
  private rv = 100;
  private uid = 0;
  readonly objects = new Map<string, Obj>();
  private readonly watchers: Array<{ resource: string; fn: (t: WatchEventType, o: unknown) => void }> = [];
  /** Deliver watch events after a macrotask, so caches lag like real ones. */
  lagWatch = true;
  watchLagTicks = 3;
  /** Called after every successful write (tests check invariants on every intermediate state). */
  afterWrite: () => void = () => {};
  requests = 0;

  private key(resource: string, ns: string | undefined, name: string): string {
    return `${resource}/${ns ?? ''}/${name}`;
  }

  private notify(resource: string, type: WatchEventType, obj: Obj): void {
    const copy = structuredClone(obj);
    for (const w of this.watchers) {
      if (w.resource !== resource) continue;
      if (!this.lagWatch) w.fn(type, copy);
      else {
        // Several macrotasks late, so a cache can be behind while its owner writes.
        const later = (n: number): void => void setImmediate(() => (n === 0 ? w.fn(type, copy) : later(n - 1)));
        later(this.watchLagTicks);
      }
    }
  }

  private conflict(what: string): KubeError {
    return new KubeError(409, 'Conflict', `${what}: the object has been modified`);
  }

  /** Test helper: create or replace an object directly (bumps resourceVersion, notifies watchers). */
  put(resource: string, obj: Obj): Obj {
    const k = this.key(resource, obj.metadata.namespace, obj.metadata.name);
    const prev = this.objects.get(k);
    const o = structuredClone(obj);
    o.metadata.resourceVersion = String(++this.rv);
    o.metadata.uid = prev?.metadata.uid ?? o.metadata.uid ?? `uid-${++this.uid}`;
    o.metadata.creationTimestamp ??= prev?.metadata.creationTimestamp ?? new Date(0).toISOString();
    this.objects.set(k, o);
    this.notify(resource, prev ? 'MODIFIED' : 'ADDED', o);
    this.afterWrite();
    return o;
  }

  list(resource: string): Obj[] {
    return [...this.objects.entries()].filter(([k]) => k.startsWith(`${resource}/`)).map(([, v]) => v);
  }

  async request<T = unknown>(method: string, path: string, body?: unknown, _contentType?: string): Promise<T> {
    this.requests++;
    await new Promise((r) => setImmediate(r)); // every call yields, as network I/O would
    const p = parse(path);
    const b = body as Obj | undefined;
    if (!p.name) {
      if (method === 'GET') {
        const items = this.list(p.resource).filter((o) => !p.ns || o.metadata.namespace === p.ns);
        return structuredClone({ metadata: { resourceVersion: String(this.rv) }, items }) as T;
      }
      if (method === 'POST' && b) {
        const name = b.metadata.name ?? `${b.metadata.generateName ?? 'x-'}${++this.uid}`;
        const k = this.key(p.resource, p.ns, name);
        if (this.objects.has(k)) throw new KubeError(409, 'AlreadyExists', `${name} already exists`);
        return structuredClone(this.put(p.resource, { ...b, metadata: { ...b.metadata, name, namespace: p.ns } })) as T;
      }
    }
    const k = this.key(p.resource, p.ns, p.name ?? '');
    const cur = this.objects.get(k);
    if (!cur) throw new KubeError(404, 'NotFound', `${path} not found`);
    if (method === 'GET') return structuredClone(cur) as T;
    if (method === 'PUT' && b) {
      if (b.metadata.resourceVersion && b.metadata.resourceVersion !== cur.metadata.resourceVersion) throw this.conflict(path);
      const next = p.status ? { ...cur, status: b.status } : { ...b, status: cur.status, metadata: { ...b.metadata, uid: cur.metadata.uid, creationTimestamp: cur.metadata.creationTimestamp } };
      return structuredClone(this.put(p.resource, next)) as T;
    }
    if (method === 'PATCH' && b) {
      if (b.metadata?.resourceVersion && b.metadata.resourceVersion !== cur.metadata.resourceVersion) throw this.conflict(path);
      const patch = structuredClone(b) as Record<string, unknown>;
      delete (patch.metadata as Record<string, unknown> | undefined)?.resourceVersion;
      const next = mergePatch(structuredClone(cur), patch) as Obj;
      if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) {
        this.objects.delete(k);
        this.notify(p.resource, 'DELETED', next);
        return next as T;
      }
      return structuredClone(this.put(p.resource, next)) as T;
    }
    if (method === 'DELETE') {
      if ((cur.metadata.finalizers ?? []).length > 0) {
        return structuredClone(this.put(p.resource, { ...cur, metadata: { ...cur.metadata, deletionTimestamp: new Date(0).toISOString() } })) as T;
      }
      this.objects.delete(k);
      this.notify(p.resource, 'DELETED', cur);
      return cur as T;
    }
    throw new KubeError(405, 'MethodNotAllowed', `${method} ${path}`);
  }

  watch(path: string, onEvent: (type: WatchEventType, obj: unknown) => void, signal: AbortSignal): Promise<void> {
    const w = { resource: parse(path).resource, fn: onEvent };
    this.watchers.push(w);
    return new Promise((resolve) => {
      signal.addEventListener('abort', () => {
        this.watchers.splice(this.watchers.indexOf(w), 1);
        resolve();
      });
    });
  }
}
