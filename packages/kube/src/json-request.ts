// One JSON request to the API server on the KubeConfig's connection pool and authentication, for
// the single-object verbs (get, create, replace, status, patch, delete). client-node's generated
// APIs go through WHATWG fetch and their model (de)serialisers; for a bind's two writes that was
// the largest part of the operator's CPU (placement benchmark profile, bench/results). Lists and
// watches stay on client-node (pagination, Watch). Same requests, same auth, same pooled dispatcher.
import { HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { request, type Dispatcher } from 'undici';
import { KubeError, toKubeError } from './errors.js';

export type JsonMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

const METHODS: Record<JsonMethod, HttpMethod> = {
  GET: HttpMethod.GET, POST: HttpMethod.POST, PUT: HttpMethod.PUT, PATCH: HttpMethod.PATCH, DELETE: HttpMethod.DELETE,
};

/** `path` is absolute (`/api/v1/namespaces/x/secrets`); a non-2xx answer throws a KubeError with the Status reason. */
export async function jsonRequest<T>(kc: KubeConfig, method: JsonMethod, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
  const what = `${method} ${path}`;
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new KubeError(0, 'Transport', `${what}: the kubeconfig names no server`);
  const ctx = new RequestContext(`${server.replace(/\/+$/, '')}${path}`, METHODS[method]);
  ctx.setHeaderParam('Accept', 'application/json');
  if (body !== undefined) ctx.setHeaderParam('Content-Type', contentType);
  let res: Dispatcher.ResponseData;
  let text: string;
  try {
    await kc.applySecurityAuthentication(ctx);
    res = await request(ctx.getUrl(), {
      method,
      headers: ctx.getHeaders(),
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher: ctx.getDispatcher() as Dispatcher | undefined,
    });
    text = await res.body.text();
  } catch (err) {
    throw toKubeError(err, what);
  }
  if (res.statusCode < 200 || res.statusCode >= 300) throw statusError(res.statusCode, text, what);
  return (text ? JSON.parse(text) : {}) as T;
}

function statusError(code: number, text: string, what: string): KubeError {
  let s: { reason?: string; message?: string } = {};
  try {
    s = JSON.parse(text) as typeof s;
  } catch {
    s = { message: text.slice(0, 200) };
  }
  return new KubeError(code, s.reason ?? `HTTP${code}`, `${what}: ${code} ${s.message ?? ''}`.trimEnd());
}
