// The HTTP endpoints every replica serves: /healthz (the process runs), /readyz (the caller's
// readiness check), /metrics (prom-client). One small server each, as the chart's probes expect.
import * as http from 'node:http';
import type { Registry } from 'prom-client';
import { errorMessage } from '@avec/common';

export interface ProbeOptions {
  healthPort: number;
  metricsPort: number;
  host?: string;
  /** Ready (200) or not (503), with a body for humans. */
  ready: () => { ok: boolean; body: string };
  registry: Registry;
}

function serve(port: number, host: string, handler: http.RequestListener): Promise<http.Server> {
  const s = http.createServer(handler);
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, host, () => resolve(s));
  });
}

export interface ProbeServers {
  close(): Promise<void>;
}

export async function serveProbes(o: ProbeOptions): Promise<ProbeServers> {
  const host = o.host ?? '0.0.0.0';
  const health = await serve(o.healthPort, host, (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/healthz') return void res.writeHead(200).end('ok');
    if (path === '/readyz') {
      const r = o.ready();
      return void res.writeHead(r.ok ? 200 : 503).end(r.body);
    }
    res.writeHead(404).end();
  });
  const metrics = await serve(o.metricsPort, host, (req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/metrics') return void res.writeHead(404).end();
    o.registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': o.registry.contentType }).end(text),
      (err) => res.writeHead(500).end(errorMessage(err)),
    );
  });
  return {
    async close(): Promise<void> {
      for (const s of [health, metrics]) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    },
  };
}
