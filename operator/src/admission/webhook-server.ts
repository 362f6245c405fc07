// The HTTPS admission endpoint: AdmissionReview v1 in, AdmissionReview v1 out. Every replica
// serves it (no leader needed: the decision is pure). TLS material can be replaced at run time.
import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { mutatePod, type InjectConfig } from './inject.js';
import { type Logger, errorMessage } from '@avec/common';
import type { OperatorMetrics } from '../metrics.js';

const reviewSchema = z.object({
  apiVersion: z.string(),
  kind: z.literal('AdmissionReview'),
  request: z.looseObject({
    uid: z.string(),
    kind: z.object({ group: z.string(), version: z.string(), kind: z.string() }).optional(),
    operation: z.string().optional(),
    namespace: z.string().optional(),
    name: z.string().optional(),
    object: z.unknown().optional(),
    dryRun: z.boolean().optional(),
  }),
});

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  status?: { code: number; message: string; reason?: string };
}

const MAX_BODY = 3 * 1024 * 1024;

/** Pure: an AdmissionReview body -> the response object (or a 400 message). */
export function review(body: unknown, cfg: InjectConfig): { ok: true; response: AdmissionResponse; claim?: string } | { ok: false; message: string } {
  const parsed = reviewSchema.safeParse(body);
  if (!parsed.success) return { ok: false, message: `not an AdmissionReview: ${parsed.error.issues[0]?.message ?? ''}` };
  const r = parsed.data.request;
  if ((r.operation && r.operation !== 'CREATE') || (r.kind && r.kind.kind !== 'Pod')) return { ok: true, response: { uid: r.uid, allowed: true } };
  const d = mutatePod(r.object, r.namespace ?? '', cfg);
  if (!d.allowed) return { ok: true, response: { uid: r.uid, allowed: false, status: { code: 403, reason: 'Forbidden', message: d.message } } };
  const response: AdmissionResponse = { uid: r.uid, allowed: true };
  if (d.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(d.patch)).toString('base64');
  }
  if (d.warnings.length > 0) response.warnings = d.warnings;
  return { ok: true, response, claim: d.claim };
}

export interface WebhookServerOptions {
  port: number;
  host?: string;
  path: string;
  tls: { cert: string; key: string };
  inject: InjectConfig;
  log: Logger;
  metrics: OperatorMetrics;
}

export class WebhookServer {
  private readonly server: https.Server;
  constructor(private readonly o: WebhookServerOptions) {
    this.server = https.createServer({ cert: o.tls.cert, key: o.tls.key, minVersion: 'TLSv1.2' }, (req, res) => this.handle(req, res));
    // The API server gives up after the webhook's timeoutSeconds (at most 30 s) anyway.
    this.server.requestTimeout = 30_000;
    this.server.headersTimeout = 10_000;
    // A failed handshake is what a stale caBundle or a certificate without the Service's name looks
    // like from here: say so (at most once a minute per peer address, so a retrying API server cannot flood the log).
    const told = new Map<string, number>();
    this.server.on('tlsClientError', (err: Error & { code?: string }, socket) => {
      const peer = socket.remoteAddress ?? 'unknown';
      const now = Date.now();
      if ((told.get(peer) ?? 0) > now - 60_000) return;
      if (told.size > 1000) told.clear();
      told.set(peer, now);
      this.o.log.warn('webhook TLS handshake failed (does the caBundle of the MutatingWebhookConfiguration match, and does the certificate name the Service?)', { peer, code: err.code, error: err.message });
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host ?? '0.0.0.0', () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  /** Swap certificates without restarting (rotation, cert-manager renewals). */
  setTls(tls: { cert: string; key: string }): void {
    this.server.setSecureContext({ cert: tls.cert, key: tls.key });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const t0 = process.hrtime.bigint();
    const send = (code: number, body: unknown, outcome: string): void => {
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
      this.o.metrics.webhookRequests.inc({ outcome });
      this.o.metrics.webhookSeconds.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    };
    if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== this.o.path) {
      return send(404, { message: `POST ${this.o.path} only` }, 'error');
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        return send(400, { message: `invalid JSON: ${errorMessage(err)}` }, 'error');
      }
      const r = review(body, this.o.inject);
      if (!r.ok) return send(400, { message: r.message }, 'error');
      const req0 = (body as { request: { namespace?: string; name?: string; object?: { metadata?: { generateName?: string } } } }).request;
      const outcome = !r.response.allowed ? 'denied' : r.response.patch ? 'mutated' : 'allowed';
      this.o.log[outcome === 'allowed' ? 'debug' : 'info']('admission', {
        namespace: req0.namespace,
        name: req0.name || req0.object?.metadata?.generateName,
        kind: 'Pod',
        outcome,
        claim: r.claim,
        message: r.response.status?.message,
      });
      send(200, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: r.response }, outcome);
    });
  }
}
