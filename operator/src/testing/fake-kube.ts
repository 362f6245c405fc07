// An in-memory stand-in for the API server's REST semantics that unit tests of controller logic
// need: resourceVersion preconditions (409), status subresources, finalizers, list + watch.
// Integration tests use the real kube-apiserver (e2e/); this only makes races reproducible in
// milliseconds.
import { KubeError, type KubeApi, type KubeObject, type ListOptions, type ObjectList, type PatchType, type Resource, type WatchEventType, type WatchOptions } from '@avec/kube';

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

interface JsonPatchOp {
  op: 'add' | 'replace' | 'remove' | 'test';
  path: string;
  value?: unknown;
}

/** RFC 6902 JSON patch (add, replace, remove, test) — what the operator sends to pods and webhooks. */
function jsonPatch(target: Obj, ops: JsonPatchOp[], what: string): Obj {
  for (const op of ops) {
    const keys = op.path.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop()!;
    let parent: Record<string, unknown> | unknown[] = target as Record<string, unknown>;
    for (const k of keys) parent = (parent as Record<string, unknown>)[k] as Record<string, unknown>;
    if (parent === undefined) throw new KubeError(422, 'Invalid', `${what}: path ${op.path} does not exist`);
    const arr = Array.isArray(parent) ? parent : undefined;
    const idx = arr ? (last === '-' ? arr.length : Number(last)) : -1;
    if (op.op === 'test') {
      const cur = arr ? arr[idx] : (parent as Record<string, unknown>)[last];
      if (JSON.stringify(cur) !== JSON.stringify(op.value)) throw new KubeError(422, 'Invalid', `${what}: test of ${op.path} failed`);
    } else if (op.op === 'remove') {
      if (arr) arr.splice(idx, 1);
      else delete (parent as Record<string, unknown>)[last];
    } else if (arr) {
      arr.splice(idx, op.op === 'add' ? 0 : 1, op.value);
    } else {
      (parent as Record<string, unknown>)[last] = op.value;
    }
  }
  return target;
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

/** The REST path prefix of each kind (namespaced kinds get /namespaces/NS inserted before the plural). */
const KINDS: Record<keyof KubeApi, { base: string; namespaced: boolean }> = {
  claims: { base: '/apis/avec.dev/v1alpha1/virtualgpuclaims', namespaced: true },
  gpuNodes: { base: '/apis/avec.dev/v1alpha1/gpunodes', namespaced: false },
  pods: { base: '/api/v1/pods', namespaced: true },
  secrets: { base: '/api/v1/secrets', namespaced: true },
  events: { base: '/api/v1/events', namespaced: true },
  nodes: { base: '/api/v1/nodes', namespaced: false },
  namespaces: { base: '/api/v1/namespaces', namespaced: false },
  leases: { base: '/apis/coordination.k8s.io/v1/leases', namespaced: true },
  mutatingWebhooks: { base: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', namespaced: false },
};

/** A Resource on top of the fake's REST semantics (the same interface KubeClient gives over client-node). */
function fakeResource(fake: FakeKube, kind: keyof KubeApi): Resource {
  const { base, namespaced } = KINDS[kind];
  const cut = base.lastIndexOf('/');
  const path = (ns?: string, name?: string): string =>
    `${base.slice(0, cut)}${namespaced && ns ? `/namespaces/${ns}` : ''}${base.slice(cut)}${name ? `/${name}` : ''}`;
  return {
    kind,
    list: (o: ListOptions = {}, ns?: string) => fake.request<ObjectList<KubeObject>>('GET', `${path(ns)}${o.labelSelector ? `?labelSelector=${o.labelSelector}` : ''}`),
    watch: (o: WatchOptions, onEvent, signal, ns?: string) => fake.watch(`${path(ns)}?watch=true&resourceVersion=${o.resourceVersion ?? ''}`, onEvent as (t: WatchEventType, obj: unknown) => void, signal),
    get: (name: string, ns?: string) => fake.request<KubeObject>('GET', path(ns, name)),
    create: (body: KubeObject, ns?: string) => fake.request<KubeObject>('POST', path(ns), body),
    replace: (name: string, body: KubeObject, ns?: string) => fake.request<KubeObject>('PUT', path(ns, name), body),
    replaceStatus: (name: string, body: KubeObject, ns?: string) => fake.request<KubeObject>('PUT', `${path(ns, name)}/status`, body),
    patch: (name: string, body: unknown, type: PatchType, ns?: string) => fake.request<KubeObject>('PATCH', path(ns, name), body, type),
    patchStatus: (name: string, body: unknown, type: PatchType, ns?: string) => fake.request<KubeObject>('PATCH', `${path(ns, name)}/status`, body, type),
    delete: async (name: string, ns?: string) => void (await fake.request('DELETE', path(ns, name))),
  };
}

export class FakeKube implements KubeApi {
  readonly claims = fakeResource(this, 'claims');
  readonly gpuNodes = fakeResource(this, 'gpuNodes');
  readonly pods = fakeResource(this, 'pods');
  readonly secrets = fakeResource(this, 'secrets');
  readonly events = fakeResource(this, 'events');
  readonly nodes = fakeResource(this, 'nodes');
  readonly namespaces = fakeResource(this, 'namespaces');
  readonly leases = fakeResource(this, 'leases');
  readonly mutatingWebhooks = fakeResource(this, 'mutatingWebhooks');

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
    if (method === 'PATCH' && Array.isArray(body)) {
      const next = jsonPatch(structuredClone(cur), body as JsonPatchOp[], path);
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
