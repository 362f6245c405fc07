// HTTP: /metrics (Prometheus text), /healthz (process alive), /readyz (admitting sessions).
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface HttpProbeOptions {
  host: string;
  port: number;
  registry: Registry;
  ready: () => { ready: boolean; reason?: string };
}

export async function startMetricsServer(opts: HttpProbeOptions): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': opts.registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500).end(String(e)),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const r = opts.ready();
      res.writeHead(r.ready ? 200 : 503, { 'Content-Type': 'text/plain' }).end(r.ready ? 'ok\n' : `${r.reason ?? 'not ready'}\n`);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : opts.port };
}
