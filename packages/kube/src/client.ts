// A thin Kubernetes REST client: JSON requests and watch streams over node:http(s), authenticated
// from a Connection (kubeconfig.ts). Kept small so every call path is visible.
import * as http from 'node:http';
import * as https from 'node:https';
import { KubeError, isStatus } from './errors.js';
import { loadConnection, type Connection } from './kubeconfig.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** The two operations everything else is built on (a fake implements it in unit tests). */
export interface KubeApi {
  request<T = unknown>(method: string, path: string, body?: unknown, contentType?: string): Promise<T>;
  /** Resolves when the server ends the stream or `signal` aborts; rejects on errors (a KubeError 410 when the rv is too old). */
  watch(path: string, onEvent: (type: WatchEventType, obj: unknown) => void, signal: AbortSignal): Promise<void>;
}

/** Longest silence tolerated on a watch stream (watches are opened with timeoutSeconds=300). */
export const WATCH_IDLE_MS = 360_000;

export const MERGE_PATCH = 'application/merge-patch+json';
export const JSON_PATCH = 'application/json-patch+json';
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';
export const APPLY_PATCH = 'application/apply-patch+yaml';

/** Told about every finished request (for metrics): HTTP method, status (0 = transport error; 2xx as 200), seconds. */
export type RequestObserver = (method: string, status: number, seconds: number) => void;

export interface KubeClientOptions {
  /** Longest silence on a request's socket before it fails (default 30 s). */
  timeoutMs?: number;
  /** Most concurrent request sockets (default unlimited); watches have their own connections. */
  maxSockets?: number;
  userAgent?: string;
}

interface StatusBody {
  reason?: string;
  message?: string;
  code?: number;
}

interface RawResponse {
  status: number;
  text: string;
}

export class KubeClient implements KubeApi {
  private readonly agent: http.Agent;
  /** Watches never take a socket from the request pool, so a maxSockets limit cannot starve them. */
  private readonly watchAgent: http.Agent;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  observe: RequestObserver = () => {};

  constructor(
    private readonly conn: Connection,
    opts: KubeClientOptions = {},
  ) {
    const tls = { ca: conn.ca, cert: conn.cert, key: conn.key, rejectUnauthorized: !conn.insecureSkipTLSVerify };
    const https_ = conn.server.protocol === 'https:';
    this.agent = https_ ? new https.Agent({ keepAlive: true, maxSockets: opts.maxSockets, ...tls }) : new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets });
    this.watchAgent = https_ ? new https.Agent({ keepAlive: false, ...tls }) : new http.Agent({ keepAlive: false });
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.userAgent = opts.userAgent ?? 'avec';
  }

  /** From --kubeconfig PATH, $KUBECONFIG, the in-cluster service account or ~/.kube/config. */
  static load(kubeconfigPath?: string, opts?: KubeClientOptions): KubeClient {
    return new KubeClient(loadConnection(kubeconfigPath), opts);
  }

  get server(): URL {
    return this.conn.server;
  }

  private open(method: string, path: string, headers: Record<string, string>, agent: http.Agent): http.ClientRequest {
    const url = new URL(path, this.conn.server);
    const token = this.conn.token?.();
    const opts: https.RequestOptions = {
      method,
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port,
      path: url.pathname + url.search,
      agent,
      headers: { Accept: 'application/json', 'User-Agent': this.userAgent, ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers },
    };
    return (url.protocol === 'https:' ? https : http).request(opts);
  }

  /** One request, its whole body as text; rejects only on transport errors (status 0). */
  private raw(method: string, path: string, body: unknown, contentType: string, accept?: string): Promise<RawResponse> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = payload ? { 'Content-Type': contentType, 'Content-Length': String(payload.length) } : {};
    if (accept) headers.Accept = accept;
    const req = this.open(method, path, headers, this.agent);
    const t0 = process.hrtime.bigint();
    const seconds = (): number => Number(process.hrtime.bigint() - t0) / 1e9;
    return new Promise<RawResponse>((resolve, reject) => {
      const fail = (e: Error): void => {
        this.observe(method, 0, seconds());
        reject(new KubeError(0, 'Transport', `${method} ${path}: ${e.message}`));
      };
      req.on('error', fail);
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`timed out after ${this.timeoutMs / 1000} s`)));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          this.observe(method, status >= 200 && status < 300 ? 200 : status, seconds());
          resolve({ status, text: Buffer.concat(chunks).toString('utf8') });
        });
      });
      req.end(payload);
    });
  }

  async request<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const { status, text } = await this.raw(method, path, body, contentType);
    let json: unknown = undefined;
    let decoded = true;
    try {
      json = text.length ? JSON.parse(text) : undefined;
    } catch {
      decoded = false;
    }
    if (status >= 200 && status < 300) {
      if (!decoded) throw new KubeError(status, 'InvalidResponse', `${method} ${path}: ${status} response is not JSON`);
      return json as T;
    }
    const s = (decoded && typeof json === 'object' && json !== null ? json : {}) as StatusBody;
    throw new KubeError(status, s.reason ?? `HTTP${status}`, `${method} ${path}: ${status} ${s.message ?? text.slice(0, 200)}`);
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  create<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  mergePatch<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body, MERGE_PATCH);
  }

  delete<T = unknown>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /** Returns undefined on 404 instead of throwing. */
  async getOrUndefined<T = unknown>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  /** GET of a non-JSON endpoint (e.g. /metrics); throws on a non-2xx status. */
  async getText(path: string): Promise<string> {
    const { status, text } = await this.raw('GET', path, undefined, 'application/json', 'text/plain, */*');
    if (status >= 200 && status < 300) return text;
    throw new KubeError(status, `HTTP${status}`, `GET ${path}: ${status} ${text.slice(0, 200)}`);
  }

  /** `path` carries `watch=1` and any resourceVersion. ERROR events reject with their Status (410: rv too old). */
  watch(path: string, onEvent: (type: WatchEventType, obj: unknown) => void, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    const req = this.open('GET', path, {}, this.watchAgent);
    return new Promise<void>((resolve, reject) => {
      req.on('error', (e) => (signal.aborted ? resolve() : reject(new KubeError(0, 'Transport', `watch ${path}: ${e.message}`))));
      const abort = (): void => {
        req.destroy();
        resolve();
      };
      signal.addEventListener('abort', abort, { once: true });
      req.on('close', () => signal.removeEventListener('abort', abort));
      // A silently dead connection would otherwise hang the watch forever: the server closes a
      // watch after timeoutSeconds and sends bookmarks meanwhile, so long silence means trouble.
      req.setTimeout(WATCH_IDLE_MS, () => req.destroy(new Error(`no data for ${WATCH_IDLE_MS / 1000} s`)));
      req.on('response', (res) => {
        if ((res.statusCode ?? 0) >= 300) {
          res.resume();
          return reject(new KubeError(res.statusCode ?? 0, `HTTP${res.statusCode}`, `watch ${path}: HTTP ${res.statusCode}`));
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            let ev: { type: WatchEventType; object: unknown };
            try {
              ev = JSON.parse(line) as { type: WatchEventType; object: unknown };
            } catch {
              req.destroy();
              return reject(new KubeError(0, 'WatchDecode', `watch ${path}: undecodable event`));
            }
            if (ev.type === 'ERROR') {
              const s = ev.object as StatusBody;
              req.destroy();
              return reject(new KubeError(s.code ?? 500, s.reason ?? 'WatchError', `watch ${path}: ${s.message ?? 'error event'}`));
            }
            onEvent(ev.type, ev.object);
          }
        });
        res.on('end', () => resolve());
        res.on('error', (e) => (signal.aborted ? resolve() : reject(new KubeError(0, 'Transport', `watch ${path}: ${e.message}`))));
      });
      req.end();
    });
  }

  /** Closes the idle keep-alive sockets (a process that is done with the API server can then exit). */
  close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
  }
}
