// Typed access to the resources avec reads and writes. Lists go through client-node's generated APIs
// (CustomObjectsApi for VirtualGPUClaims and GPUNodes, CoreV1Api, CoordinationV1Api, ...), watches
// through its Watch, and single-object calls as plain JSON on the same KubeConfig (json-request.ts).
// Every kind looks the same to callers (the `Resource` interface, which the operator's unit-test fake
// also implements); objects are plain JSON (client-node's model classes carry Dates; list results are
// turned back into the API's strings here).
import {
  AdmissionregistrationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  type KubeConfig,
} from '@kubernetes/client-node';
import { toKubeError } from './errors.js';
import { jsonRequest, type JsonMethod } from './json-request.js';
import { watchPath, type WatchEventType, type WatchOptions } from './watch.js';

/** An API object as JSON (callers parse what they read with their zod schemas). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface ObjectList<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

export interface ListOptions {
  labelSelector?: string;
  /** Page size; `continue` is the token of the previous page. */
  limit?: number;
  continue?: string;
}

export { PatchStrategy };
export type PatchType = (typeof PatchStrategy)[keyof typeof PatchStrategy];

/** One kind. `ns` is the namespace for namespaced kinds (omitted: all namespaces, for list/watch). */
export interface Resource<T extends KubeObject = KubeObject> {
  readonly kind: string;
  list(opts?: ListOptions, ns?: string): Promise<ObjectList<T>>;
  /** Resolves when the server ends the stream or `signal` aborts; rejects on errors (a KubeError 410 when the rv is too old). */
  watch(opts: WatchOptions, onEvent: (type: WatchEventType, obj: T) => void, signal: AbortSignal, ns?: string): Promise<void>;
  get(name: string, ns?: string): Promise<T>;
  create(body: object, ns?: string): Promise<T>;
  replace(name: string, body: object, ns?: string): Promise<T>;
  replaceStatus(name: string, body: object, ns?: string): Promise<T>;
  patch(name: string, body: unknown, type: PatchType, ns?: string): Promise<T>;
  patchStatus(name: string, body: unknown, type: PatchType, ns?: string): Promise<T>;
  delete(name: string, ns?: string): Promise<void>;
}

/** The kinds avec uses. */
export interface KubeApi {
  claims: Resource;
  gpuNodes: Resource;
  pods: Resource;
  secrets: Resource;
  events: Resource;
  nodes: Resource;
  namespaces: Resource;
  leases: Resource;
  mutatingWebhooks: Resource;
}

/** Told about every finished request (for metrics): verb, HTTP status (0 = transport error; 2xx as 200), seconds. */
export type RequestObserver = (verb: string, status: number, seconds: number) => void;

/** Model classes (Dates, `_continue`) back to the API's JSON. */
const plain = <T>(o: unknown): T => JSON.parse(JSON.stringify(o)) as T;
const plainList = <T>(l: { metadata?: { resourceVersion?: string; _continue?: string }; items: unknown[] }): ObjectList<T> => ({
  metadata: { resourceVersion: l.metadata?.resourceVersion, continue: l.metadata?._continue },
  items: plain<T[]>(l.items),
});

/* eslint-disable @typescript-eslint/no-explicit-any -- the generated parameter objects differ per kind */
type Call = (p: any, opts?: any) => Promise<any>;
interface Ops {
  list?: Call;
  listAll?: Call;
}

export interface CustomKind {
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
}

export class ResourceClient<T extends KubeObject = KubeObject> implements Resource<T> {
  constructor(
    readonly kind: string,
    private readonly kc: KubeConfig,
    private readonly basePath: string,
    private readonly namespaced: boolean,
    private readonly ops: Ops,
    private readonly observe: () => RequestObserver,
    private readonly typedResult: boolean,
  ) {}

  private path(ns?: string, name?: string): string {
    const n = this.namespaced && ns ? `/namespaces/${encodeURIComponent(ns)}` : '';
    const [prefix, plural] = [this.basePath.slice(0, this.basePath.lastIndexOf('/')), this.basePath.slice(this.basePath.lastIndexOf('/') + 1)];
    return `${prefix}${n}/${plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
  }

  private async run<R>(verb: string, op: keyof Ops, what: string, params: Record<string, unknown>, opts?: unknown): Promise<R> {
    const fn = this.ops[op];
    if (!fn) throw toKubeError(new Error(`${op} is not supported for ${this.kind}`), what);
    const t0 = performance.now();
    try {
      const r = await fn(params, opts);
      this.observe()(verb, 200, (performance.now() - t0) / 1000);
      return r as R;
    } catch (err) {
      const e = toKubeError(err, `${verb} ${what}`);
      this.observe()(verb, e.status, (performance.now() - t0) / 1000);
      throw e;
    }
  }

  /** One object by path, as JSON (observed like every call). */
  private async json<R>(method: JsonMethod, verb: string, path: string, body?: unknown, contentType?: string): Promise<R> {
    const t0 = performance.now();
    try {
      const r = await jsonRequest<R>(this.kc, method, path, body, contentType);
      this.observe()(verb, 200, (performance.now() - t0) / 1000);
      return r;
    } catch (err) {
      const e = toKubeError(err, `${verb} ${path}`);
      this.observe()(verb, e.status, (performance.now() - t0) / 1000);
      throw e;
    }
  }

  private nsParam(ns?: string): Record<string, unknown> {
    return this.namespaced ? { namespace: ns ?? '' } : {};
  }

  async list(o: ListOptions = {}, ns?: string): Promise<ObjectList<T>> {
    const q = { labelSelector: o.labelSelector, limit: o.limit, _continue: o.continue };
    const all = this.namespaced && !ns;
    const r = await this.run<{ metadata?: { resourceVersion?: string; _continue?: string; continue?: string }; items: unknown[] }>(
      'LIST', all ? 'listAll' : 'list', this.path(ns), all ? q : { ...q, ...this.nsParam(ns) });
    if (this.typedResult) return plainList<T>(r);
    return { metadata: { resourceVersion: r.metadata?.resourceVersion, continue: r.metadata?.continue }, items: r.items as T[] };
  }

  watch(opts: WatchOptions, onEvent: (type: WatchEventType, obj: T) => void, signal: AbortSignal, ns?: string): Promise<void> {
    return watchPath(this.kc, this.path(ns), opts, onEvent as (t: WatchEventType, o: unknown) => void, signal);
  }

  get(name: string, ns?: string): Promise<T> {
    return this.json('GET', 'GET', this.path(ns, name));
  }

  create(body: object, ns?: string): Promise<T> {
    return this.json('POST', 'POST', this.path(ns), body);
  }

  replace(name: string, body: object, ns?: string): Promise<T> {
    return this.json('PUT', 'PUT', this.path(ns, name), body);
  }

  replaceStatus(name: string, body: object, ns?: string): Promise<T> {
    return this.json('PUT', 'PUT', `${this.path(ns, name)}/status`, body);
  }

  patch(name: string, body: unknown, type: PatchType, ns?: string): Promise<T> {
    return this.json('PATCH', 'PATCH', this.path(ns, name), body, type);
  }

  patchStatus(name: string, body: unknown, type: PatchType, ns?: string): Promise<T> {
    return this.json('PATCH', 'PATCH', `${this.path(ns, name)}/status`, body, type);
  }

  async delete(name: string, ns?: string): Promise<void> {
    await this.json('DELETE', 'DELETE', this.path(ns, name));
  }
}

/** A CustomResourceDefinition's kind through CustomObjectsApi. */
export function customResource(kc: KubeConfig, k: CustomKind, observe: () => RequestObserver): ResourceClient {
  const api = kc.makeApiClient(CustomObjectsApi);
  const g = { group: k.group, version: k.version, plural: k.plural };
  const with_ = (fn: Call): Call => (p, o) => fn.call(api, { ...g, ...p }, o);
  const ops: Ops = k.namespaced
    ? {
        listAll: (p, o) => api.listCustomObjectForAllNamespaces({ group: k.group, version: k.version, resourcePlural: k.plural, ...p }, o),
        list: with_(api.listNamespacedCustomObject),
      }
    : { list: with_(api.listClusterCustomObject) };
  return new ResourceClient(k.plural, kc, `/apis/${k.group}/${k.version}/${k.plural}`, k.namespaced, ops, observe, false);
}

const bind = (api: object, names: Partial<Record<keyof Ops, string>>): Ops =>
  Object.fromEntries(Object.entries(names).map(([op, m]) => [op, (api as Record<string, Call>)[m as string]!.bind(api)]));

/** The built-in kinds avec touches (lists through their typed APIs). */
export function builtinResources(kc: KubeConfig, observe: () => RequestObserver): Omit<KubeApi, 'claims' | 'gpuNodes'> {
  const core = kc.makeApiClient(CoreV1Api);
  const coord = kc.makeApiClient(CoordinationV1Api);
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  const r = (kind: string, base: string, namespaced: boolean, api: object, names: Partial<Record<keyof Ops, string>>) =>
    new ResourceClient(kind, kc, base, namespaced, bind(api, names), observe, true);
  return {
    pods: r('pods', '/api/v1/pods', true, core, { listAll: 'listPodForAllNamespaces', list: 'listNamespacedPod' }),
    secrets: r('secrets', '/api/v1/secrets', true, core, { list: 'listNamespacedSecret' }),
    events: r('events', '/api/v1/events', true, core, { listAll: 'listEventForAllNamespaces', list: 'listNamespacedEvent' }),
    nodes: r('nodes', '/api/v1/nodes', false, core, { list: 'listNode' }),
    namespaces: r('namespaces', '/api/v1/namespaces', false, core, { list: 'listNamespace' }),
    leases: r('leases', '/apis/coordination.k8s.io/v1/leases', true, coord, { list: 'listNamespacedLease' }),
    mutatingWebhooks: r('mutatingwebhookconfigurations', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', false, admission, {
      list: 'listMutatingWebhookConfiguration',
    }),
  };
}
