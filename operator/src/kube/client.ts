// A thin Kubernetes REST client: JSON requests and watch streams over node:https, authenticated
// from a kubeconfig (kubeconfig.ts). Kept small so every call path is visible.
import * as http from 'node:http';
import * as https from 'node:https';
import { AvecError } from '../util/errors.js';
import { loadConnection, type Connection } from './kubeconfig.js';

export class KubeError extends AvecError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(code, message);
    this.name = 'KubeError';
  }
}

export const isStatus = (err: unknown, status: number): boolean => err instanceof KubeError && err.status === status;

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** The two operations everything else is built on (a fake implements it in unit tests). */
export interface KubeApi {
  request<T = unknown>(method: string, path: string, body?: unknown, contentType?: string): Promise<T>;
  /** Resolves when the server ends the stream; rejects on errors (a KubeError 410 when the rv is too old). */
  watch(path: string, onEvent: (type: WatchEventType, obj: unknown) => void, signal: AbortSignal): Promise<void>;
}

/** Longest silence tolerated on a watch stream (watches are opened with timeoutSeconds=300). */
export const WATCH_IDLE_MS = 360_000;

export const MERGE_PATCH = 'application/merge-patch+json';
export const JSON_PATCH = 'application/json-patch+json';

interface StatusBody {
  kind?: string;
  reason?: string;
  message?: string;
  code?: number;
}

/** Told about every finished request (for metrics): HTTP method, status (0 = transport error), seconds. */
export type RequestObserver = (method: string, status: number, seconds: number) => void;

export class KubeClient implements KubeApi {
  private readonly agent: http.Agent;
  observe: RequestObserver = () => {};
  constructor(private readonly conn: Connection) {
    this.agent =
      conn.server.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, ca: conn.ca, cert: conn.cert, key: conn.key, rejectUnauthorized: !conn.insecureSkipTLSVerify })
        : new http.Agent({ keepAlive: true });
  }

  static load(kubeconfigPath?: string): KubeClient {
    return new KubeClient(loadConnection(kubeconfigPath));
  }

  private async open(method: string, path: string, headers: Record<string, string>): Promise<http.ClientRequest> {
    const url = new URL(path, this.conn.server);
    const token = this.conn.token?.();
    const opts: https.RequestOptions = {
      method,
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port,
      path: url.pathname + url.search,
      agent: this.agent,
      headers: { Accept: 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers },
    };
    return (url.protocol === 'https:' ? https : http).request(opts);
  }

  async request<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = await this.open(method, path, payload ? { 'Content-Type': contentType, 'Content-Length': String(payload.length) } : {});
    const t0 = process.hrtime.bigint();
    const seconds = (): number => Number(process.hrtime.bigint() - t0) / 1e9;
    return new Promise<T>((resolveRaw, rejectRaw) => {
      const resolve = (v: T): void => {
        this.observe(method, 200, seconds());
        resolveRaw(v);
      };
      const reject = (e: KubeError): void => {
        this.observe(method, e.status, seconds());
        rejectRaw(e);
      };
      req.on('error', (e) => reject(new KubeError(0, 'Transport', `${method} ${path}: ${e.message}`)));
      req.setTimeout(30_000, () => req.destroy(new Error('timed out after 30 s')));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new KubeError(0, 'Transport', `${method} ${path}: ${e.message}`)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = undefined;
          try {
            json = text.length ? JSON.parse(text) : undefined;
          } catch {
            /* non-JSON body: reported below */
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(json as T);
          const s = (json ?? {}) as StatusBody;
          reject(new KubeError(status, s.reason ?? `HTTP${status}`, `${method} ${path}: ${status} ${s.message ?? text.slice(0, 200)}`));
        });
      });
      req.end(payload);
    });
  }

  async watch(path: string, onEvent: (type: WatchEventType, obj: unknown) => void, signal: AbortSignal): Promise<void> {
    const req = await this.open('GET', path, {});
    return new Promise<void>((resolve, reject) => {
      const abort = (): void => {
        req.destroy();
        resolve();
      };
      if (signal.aborted) return abort();
      signal.addEventListener('abort', abort, { once: true });
      req.on('error', (e) => (signal.aborted ? resolve() : reject(new KubeError(0, 'Transport', `watch ${path}: ${e.message}`))));
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
}
