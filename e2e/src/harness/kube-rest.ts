// A minimal Kubernetes REST client for tests and benchmarks: JSON over node:https with the admin
// client certificate and a keep-alive agent. (@kubernetes/client-node 2.x cannot be imported on
// Node.js 20: its undici 8 needs zlib zstd from Node.js 22.)
import { Agent, request } from 'node:https';

export class KubeRestError extends Error {
  constructor(readonly status: number, readonly reason: string, message: string) {
    super(message);
    this.name = 'KubeRestError';
  }
}

export interface KubeRestAuth {
  server: string;
  ca: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  token?: string;
}

export class KubeRest {
  private readonly agent: Agent;
  private readonly url: URL;

  constructor(private readonly auth: KubeRestAuth, maxSockets = 32) {
    this.url = new URL(auth.server);
    this.agent = new Agent({ keepAlive: true, maxSockets, ca: auth.ca, cert: auth.cert, key: auth.key });
  }

  get<T = any>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  create<T = any>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  mergePatch<T = any>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body, 'application/merge-patch+json');
  }

  delete<T = any>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /** Returns undefined on 404 instead of throwing. */
  async getOrUndefined<T = any>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (err) {
      if (err instanceof KubeRestError && err.status === 404) return undefined;
      throw err;
    }
  }

  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const { status, text } = await this.raw(method, path, body, contentType);
    let parsed: any;
    try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = undefined; }
    if (status >= 200 && status < 300) return parsed as T;
    throw new KubeRestError(status, parsed?.reason ?? 'Unknown', `${method} ${path}: ${status} ${parsed?.message ?? text}`);
  }

  /** GET of a non-JSON endpoint (e.g. /metrics); throws on a non-2xx status. */
  async getText(path: string): Promise<string> {
    const { status, text } = await this.raw('GET', path);
    if (status >= 200 && status < 300) return text;
    throw new KubeRestError(status, 'Unknown', `GET ${path}: ${status} ${text.slice(0, 200)}`);
  }

  private raw(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; text: string }> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = { Accept: 'application/json, */*' };
    if (payload) {
      headers['Content-Type'] = contentType;
      headers['Content-Length'] = payload.length;
    }
    if (this.auth.token) headers.Authorization = `Bearer ${this.auth.token}`;
    return new Promise((resolve, reject) => {
      const req = request({
        host: this.url.hostname, port: this.url.port, path, method, headers, agent: this.agent,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  /**
   * Streams watch events (one JSON object per line) until the server ends the stream or stop() is
   * called. `path` must already carry `watch=1` and any resourceVersion.
   */
  watch(path: string, onEvent: (type: string, obj: any) => void): { done: Promise<void>; stop: () => void } {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.auth.token) headers.Authorization = `Bearer ${this.auth.token}`;
    let stopFn = () => {};
    const done = new Promise<void>((resolve, reject) => {
      const req = request({ host: this.url.hostname, port: this.url.port, path, method: 'GET', headers, agent: false,
        ca: this.auth.ca, cert: this.auth.cert, key: this.auth.key }, (res) => {
        if ((res.statusCode ?? 0) >= 300) {
          res.resume();
          reject(new KubeRestError(res.statusCode ?? 0, 'WatchFailed', `watch ${path}: ${res.statusCode}`));
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (!line.trim()) continue;
            const ev = JSON.parse(line) as { type: string; object: unknown };
            onEvent(ev.type, ev.object);
          }
        });
        res.on('end', () => resolve());
        res.on('error', () => resolve());
      });
      req.on('error', (err) => (stopped ? resolve() : reject(err)));
      let stopped = false;
      stopFn = () => {
        stopped = true;
        req.destroy();
        resolve();
      };
      req.end();
    });
    return { done, stop: () => stopFn() };
  }

  close(): void {
    this.agent.destroy();
  }
}
