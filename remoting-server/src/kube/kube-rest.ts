// JSON requests to the API server over node:http(s). The remoting server needs four calls; no watches.
import * as http from 'node:http';
import * as https from 'node:https';
import { AvecError } from '../errors.js';
import type { KubeTarget } from './kubeconfig.js';

export class KubeError extends AvecError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(`Kube${status}`, message);
    this.name = 'KubeError';
  }
}

export const MERGE_PATCH = 'application/merge-patch+json';

export interface KubeRest {
  request<T = unknown>(method: string, path: string, body?: unknown, contentType?: string): Promise<T>;
}

export function kubeRest(target: KubeTarget, timeoutMs = 15_000): KubeRest {
  const isHttps = target.server.protocol === 'https:';
  const agent = isHttps
    ? new https.Agent({ keepAlive: true, ca: target.ca, cert: target.cert, key: target.key, rejectUnauthorized: !target.insecure })
    : new http.Agent({ keepAlive: true });
  return {
    request<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
      const url = new URL(path, target.server);
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'avec-remoting-server' };
      if (payload) Object.assign(headers, { 'Content-Type': contentType, 'Content-Length': String(payload.length) });
      const token = target.token?.();
      if (token) headers.Authorization = `Bearer ${token}`;
      return new Promise<T>((resolve, reject) => {
        const req = (isHttps ? https : http).request(url, { method, headers, agent, timeout: timeoutMs }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              try {
                resolve((text ? JSON.parse(text) : undefined) as T);
              } catch {
                reject(new KubeError(status, `${method} ${path}: response is not JSON`));
              }
              return;
            }
            let message = text.slice(0, 500);
            try {
              message = (JSON.parse(text) as { message?: string }).message ?? message;
            } catch {
              // not a Status object
            }
            reject(new KubeError(status, `${method} ${path}: ${status} ${message}`));
          });
          res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out after ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end(payload);
      });
    },
  };
}
