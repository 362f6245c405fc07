import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PooledKubeConfig } from './config.js';
import { customResource, PatchStrategy } from './resources.js';
import { KubeError } from './errors.js';

test('single-object calls: JSON over the kubeconfig\'s server and token, Status errors as KubeErrors', async () => {
  const seen: Array<{ method?: string; url?: string; type?: string; auth?: string; body: string }> = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, type: req.headers['content-type'], auth: req.headers.authorization, body });
      if (req.url?.endsWith('/missing')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', reason: 'NotFound', message: 'virtualgpuclaims "missing" not found', code: 404 }));
        return;
      }
      if (req.url?.endsWith('/busy')) {
        res.writeHead(503);
        res.end('try later');
        return;
      }
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'VirtualGPUClaim', metadata: { name: 'a', resourceVersion: '7' }, echo: body ? JSON.parse(body) : null }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const kc = new PooledKubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'tok' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const observed: string[] = [];
    const claims = customResource(kc, { group: 'avec.dev', version: 'v1alpha1', plural: 'virtualgpuclaims', namespaced: true }, () => (verb, code) => observed.push(`${verb} ${code}`));
    const created = await claims.create({ metadata: { name: 'a' }, spec: { memory: '1Gi' } }, 'ns');
    assert.equal(created.metadata?.resourceVersion, '7');
    assert.deepEqual((created as { echo?: unknown }).echo, { metadata: { name: 'a' }, spec: { memory: '1Gi' } });
    await claims.replaceStatus('a', { metadata: { name: 'a', resourceVersion: '7' }, status: { phase: 'Bound' } }, 'ns');
    await claims.patch('a', { metadata: { labels: { x: 'y' } } }, PatchStrategy.MergePatch, 'ns');
    await claims.delete('a', 'ns');
    await assert.rejects(claims.get('missing', 'ns'), (e: unknown) => e instanceof KubeError && e.status === 404 && e.code === 'NotFound' && /GET \/apis\/avec.dev\/v1alpha1\/namespaces\/ns\/virtualgpuclaims\/missing: 404 virtualgpuclaims "missing" not found/.test(e.message));
    await assert.rejects(claims.get('busy', 'ns'), (e: unknown) => e instanceof KubeError && e.status === 503 && e.code === 'HTTP503' && /try later/.test(e.message));
    assert.deepEqual(seen.map((s) => `${s.method} ${s.url} ${s.type ?? '-'} ${s.auth}`), [
      'POST /apis/avec.dev/v1alpha1/namespaces/ns/virtualgpuclaims application/json Bearer tok',
      'PUT /apis/avec.dev/v1alpha1/namespaces/ns/virtualgpuclaims/a/status application/json Bearer tok',
      'PATCH /apis/avec.dev/v1alpha1/namespaces/ns/virtualgpuclaims/a application/merge-patch+json Bearer tok',
      'DELETE /apis/avec.dev/v1alpha1/namespaces/ns/virtualgpuclaims/a - Bearer tok',
      'GET /apis/avec.dev/v1alpha1/namespaces/ns/virtualgpuclaims/missing - Bearer tok',
      'GET /apis/avec.dev/v1alpha1/namespaces/ns/virtualgpuclaims/busy - Bearer tok',
    ]);
    assert.deepEqual(observed, ['POST 200', 'PUT 200', 'PATCH 200', 'DELETE 200', 'GET 404', 'GET 503']);
  } finally {
    server.close();
  }
});
