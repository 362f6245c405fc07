// The REST client's own behaviour (status mapping, auth header, watch stream framing) against a
// throwaway local HTTP listener; controllers are tested against the real API server in e2e/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeClient, KubeError, type WatchEventType } from './client.js';

test('client: JSON requests, bearer token, Status errors; watch events split across chunks; ERROR 410', async () => {
  const seen: Array<{ method?: string; url?: string; auth?: string; body: string; type?: string }> = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body, type: req.headers['content-type'] });
      if (req.url === '/ok') return res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"a":1}');
      if (req.url === '/conflict') return res.writeHead(409).end(JSON.stringify({ kind: 'Status', reason: 'Conflict', message: 'the object has been modified', code: 409 }));
      if (req.url?.startsWith('/watch')) {
        res.writeHead(200);
        const lines = [
          JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } }),
          JSON.stringify({ type: 'MODIFIED', object: { metadata: { name: 'a', resourceVersion: '2' } } }),
          req.url.includes('gone') ? JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' } }) : '',
        ].join('\n') + '\n';
        const mid = Math.floor(lines.length / 2) + 3;
        res.write(lines.slice(0, mid));
        setImmediate(() => res.end(lines.slice(mid)));
        return;
      }
      res.writeHead(404).end('nope');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  const c = new KubeClient({ server: new URL(`http://127.0.0.1:${port}`), token: () => 'tok' });
  const observed: Array<[string, number]> = [];
  c.observe = (method, status, seconds) => {
    assert.ok(seconds >= 0);
    observed.push([method, status]);
  };
  try {
    assert.deepEqual(await c.request('POST', '/ok', { x: 1 }, 'application/merge-patch+json'), { a: 1 });
    assert.deepEqual([seen[0].auth, seen[0].body, seen[0].type], ['Bearer tok', '{"x":1}', 'application/merge-patch+json']);
    await assert.rejects(c.request('PUT', '/conflict', {}), (e: unknown) => e instanceof KubeError && e.status === 409 && e.code === 'Conflict' && /modified/.test(e.message));
    await assert.rejects(c.request('GET', '/missing'), (e: unknown) => e instanceof KubeError && e.status === 404);
    assert.deepEqual(observed, [['POST', 200], ['PUT', 409], ['GET', 404]]);
    const events: Array<[WatchEventType, string]> = [];
    await c.watch('/watch', (t, o) => events.push([t, (o as { metadata: { name: string } }).metadata.name]), new AbortController().signal);
    assert.deepEqual(events, [['ADDED', 'a'], ['MODIFIED', 'a']]);
    await assert.rejects(c.watch('/watch-gone', () => {}, new AbortController().signal), (e: unknown) => e instanceof KubeError && e.status === 410);
  } finally {
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  }
});
