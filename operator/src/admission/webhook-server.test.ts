import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { WebhookServer } from './webhook-server.js';
import { generateCA, generateServingCert, namesMatch, needsRotation } from './certs.js';
import { OperatorMetrics } from '../metrics.js';
import { createLogger } from '@avec/common';

const waitUntil = async (f: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
};

function post(port: number, ca: string, path: string, body: unknown, servername = 'avec-operator.avec-system.svc'): Promise<{ status: number; json: Record<string, unknown>; peer: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, method: 'POST', ca, servername, agent: false, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let s = '';
      res.on('data', (c) => (s += c));
      res.on('end', () => {
        const cert = (res.socket as import('node:tls').TLSSocket).getPeerCertificate?.();
        resolve({ status: res.statusCode ?? 0, json: JSON.parse(s) as Record<string, unknown>, peer: cert?.fingerprint256 ?? '' });
      });
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const reviewOf = (annotations: Record<string, string>) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: 'req-1',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    operation: 'CREATE',
    namespace: 'vision',
    object: { metadata: { name: 'p', annotations }, spec: { containers: [{ name: 'main', image: 'x' }] } },
  },
});

test('webhook answers AdmissionReviews over TLS on loopback (CA-verified), mutates, denies, hot-swaps certs', async () => {
  const now = new Date();
  const ca = generateCA('avec-webhook-ca', now, 365);
  const serving = generateServingCert(ca, ['avec-operator.avec-system.svc'], ['127.0.0.1'], now, 30);
  assert.equal(new X509Certificate(serving.certPem).verify(new X509Certificate(ca.certPem).publicKey), true);
  assert.equal(needsRotation(serving.certPem, now.getTime()), false);
  assert.equal(needsRotation(serving.certPem, now.getTime() + 21 * 86_400_000), true);
  const metrics = new OperatorMetrics();
  const logged: string[] = [];
  const srv = new WebhookServer({
    port: 0, host: '127.0.0.1', path: '/mutate-pods', tls: { cert: serving.certPem, key: serving.keyPem },
    inject: { shimImage: 'shim:1', randomSuffix: () => 'abcde' }, log: createLogger({ component: 'test', level: 'warn', sink: (l) => logged.push(l) }), metrics,
  });
  const port = await srv.listen();
  try {
    const ok = await post(port, ca.certPem, '/mutate-pods', reviewOf({ 'avec.dev/claim': 'c1' }));
    assert.equal(ok.status, 200);
    const resp = ok.json.response as { uid: string; allowed: boolean; patchType: string; patch: string };
    assert.equal(resp.uid, 'req-1');
    assert.equal(resp.allowed, true);
    assert.equal(resp.patchType, 'JSONPatch');
    const patch = JSON.parse(Buffer.from(resp.patch, 'base64').toString()) as Array<{ path: string }>;
    assert.ok(patch.some((p) => p.path === '/spec/schedulingGates'));

    const denied = await post(port, ca.certPem, '/mutate-pods', reviewOf({ 'avec.dev/gpu-memory': 'lots' }));
    const dr = denied.json.response as { allowed: boolean; status: { code: number; message: string } };
    assert.equal(dr.allowed, false);
    assert.equal(dr.status.code, 403);
    assert.match(dr.status.message, /avec.dev\/gpu-memory="lots"/);

    const plain = await post(port, ca.certPem, '/mutate-pods', reviewOf({}));
    assert.deepEqual(plain.json.response, { uid: 'req-1', allowed: true });
    assert.equal((await post(port, ca.certPem, '/mutate-pods', { hello: 1 })).status, 400);
    assert.equal((await post(port, ca.certPem, '/other', reviewOf({}))).status, 404);

    // Rotation: a new serving cert from the same CA is served to new connections.
    const next = generateServingCert(ca, ['avec-operator.avec-system.svc'], ['127.0.0.1'], now, 30);
    srv.setTls({ cert: next.certPem, key: next.keyPem });
    const after = await post(port, ca.certPem, '/mutate-pods', reviewOf({}));
    assert.equal(after.peer, new X509Certificate(next.certPem).fingerprint256);

    // A client that does not trust the CA is refused, and the server says so in its log.
    const other = generateCA('other', now, 1);
    await assert.rejects(post(port, other.certPem, '/mutate-pods', reviewOf({})));
    await waitUntil(() => logged.some((l) => /webhook TLS handshake failed/.test(l)));
    assert.match(logged.find((l) => /handshake failed/.test(l))!, /"peer":"[^"]+","code":"[A-Z_]+"/);
    assert.equal(namesMatch(next.certPem, ['avec-operator.avec-system.svc'], ['127.0.0.1']), true);
    assert.equal(namesMatch(next.certPem, ['gpu-operator.avec-system.svc'], ['127.0.0.1']), false);
    const text = await metrics.registry.metrics();
    assert.match(text, /avec_webhook_requests_total\{outcome="mutated"\} 1/);
    assert.match(text, /avec_webhook_requests_total\{outcome="denied"\} 1/);
  } finally {
    await srv.close();
  }
});
