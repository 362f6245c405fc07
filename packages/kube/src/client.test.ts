// The REST client's own behaviour (Status mapping, auth and agent headers, watch stream framing,
// timeouts) against throwaway local HTTP listeners; its use against the real API server is tested in e2e/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeClient, MERGE_PATCH, type WatchEventType } from './client.js';
import { KubeError, isStatus, statusOf } from './errors.js';

async function listen(handler: http.RequestListener): Promise<{ url: URL; close: () => Promise<void> }> {
  const srv = http.createServer(handler);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const url = new URL(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`);
  return {
    url,
    close: async () => {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    },
  };
}

test('client: JSON requests, bearer token, Status errors; watch events split across chunks; ERROR 410', async () => {
  const seen: Array<{ method?: string; url?: string; auth?: string; body: string; type?: string; agent?: string }> = [];
  const srv = await listen((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body, type: req.headers['content-type'], agent: req.headers['user-agent'] });
      if (req.url === '/ok') return res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"a":1}');
      if (req.url === '/created') return res.writeHead(201, { 'Content-Type': 'application/json' }).end('{"b":2}');
      if (req.url === '/conflict') return res.writeHead(409).end(JSON.stringify({ kind: 'Status', reason: 'Conflict', message: 'the object has been modified', code: 409 }));
      if (req.url === '/not-json') return res.writeHead(200).end('<html>');
      if (req.url === '/metrics') return res.writeHead(200, { 'Content-Type': 'text/plain' }).end('# HELP x\nx 1\n');
      if (req.url?.startsWith('/watch')) {
        res.writeHead(200);
        const lines = [
          JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } }),
          JSON.stringify({ type: 'MODIFIED', object: { metadata: { name: 'a', resourceVersion: '2' } } }),
          req.url.includes('gone') ? JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' } }) : '',
          req.url.includes('garbage') ? '{not json' : '',
        ].join('\n') + '\n';
        const mid = Math.floor(lines.length / 2) + 3;
        res.write(lines.slice(0, mid));
        setImmediate(() => res.end(lines.slice(mid)));
        return;
      }
      res.writeHead(404).end('nope');
    });
  });
  const c = new KubeClient({ server: srv.url, token: () => 'tok' }, { userAgent: 'avec-test' });
  const observed: Array<[string, number]> = [];
  c.observe = (method, status, seconds) => {
    assert.ok(seconds >= 0);
    observed.push([method, status]);
  };
  try {
    assert.deepEqual(await c.request('POST', '/ok', { x: 1 }, MERGE_PATCH), { a: 1 });
    assert.deepEqual([seen[0].auth, seen[0].body, seen[0].type, seen[0].agent], ['Bearer tok', '{"x":1}', MERGE_PATCH, 'avec-test']);
    await assert.rejects(c.request('PUT', '/conflict', {}), (e: unknown) => e instanceof KubeError && e.status === 409 && e.code === 'Conflict' && /modified/.test(e.message));
    await assert.rejects(c.request('GET', '/missing'), (e: unknown) => isStatus(e, 404) && e instanceof KubeError && e.code === 'HTTP404' && /nope/.test(e.message));
    await assert.rejects(c.request('GET', '/not-json'), (e: unknown) => e instanceof KubeError && e.status === 200 && e.code === 'InvalidResponse');
    assert.deepEqual(await c.create('/created', { y: 1 }), { b: 2 });
    assert.deepEqual(observed, [['POST', 200], ['PUT', 409], ['GET', 404], ['GET', 200], ['POST', 200]], '2xx is observed as 200');

    assert.deepEqual(await c.mergePatch('/ok', { z: 1 }), { a: 1 });
    assert.equal(seen.at(-1)?.method, 'PATCH');
    assert.equal(seen.at(-1)?.type, MERGE_PATCH);
    assert.deepEqual(await c.getOrUndefined('/ok'), { a: 1 });
    assert.equal(await c.getOrUndefined('/missing'), undefined);
    await assert.rejects(c.getOrUndefined('/conflict'), (e: unknown) => isStatus(e, 409));
    assert.equal(await c.getText('/metrics'), '# HELP x\nx 1\n');
    await assert.rejects(c.getText('/missing'), (e: unknown) => isStatus(e, 404));

    const events: Array<[WatchEventType, string]> = [];
    await c.watch('/watch', (t, o) => events.push([t, (o as { metadata: { name: string } }).metadata.name]), new AbortController().signal);
    assert.deepEqual(events, [['ADDED', 'a'], ['MODIFIED', 'a']]);
    await assert.rejects(c.watch('/watch-gone', () => {}, new AbortController().signal), (e: unknown) => e instanceof KubeError && e.status === 410 && e.code === 'Expired');
    await assert.rejects(c.watch('/watch-garbage', () => {}, new AbortController().signal), (e: unknown) => e instanceof KubeError && e.code === 'WatchDecode');
  } finally {
    c.close();
    await srv.close();
  }
});

test('client: transport errors are KubeErrors with status 0; a silent server times out', async () => {
  const srv = await listen(() => {
    /* never answers */
  });
  const c = new KubeClient({ server: srv.url }, { timeoutMs: 100 });
  const observed: number[] = [];
  c.observe = (_m, status) => observed.push(status);
  try {
    await assert.rejects(c.get('/slow'), (e: unknown) => statusOf(e) === 0 && e instanceof KubeError && e.code === 'Transport' && /timed out/.test(e.message));
    assert.deepEqual(observed, [0]);
  } finally {
    c.close();
    await srv.close();
  }
  const refused = new KubeClient({ server: srv.url });
  await assert.rejects(refused.get('/x'), (e: unknown) => isStatus(e, 0));
  refused.close();
  assert.equal(statusOf(new Error('other')), undefined);
});

test('client: a watch ends when its signal aborts and does not take a socket from the request pool', async () => {
  const srv = await listen((req, res) => {
    if (req.url?.startsWith('/watch')) {
      res.writeHead(200);
      res.write(JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'w' } } }) + '\n');
      return; // stays open
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
  });
  const c = new KubeClient({ server: srv.url }, { maxSockets: 1 });
  try {
    const ac = new AbortController();
    const got: string[] = [];
    const done = c.watch('/watch?watch=1', (t) => got.push(t), ac.signal);
    await new Promise<void>((r) => {
      const poll = (): void => void (got.length ? r() : setTimeout(poll, 5));
      poll();
    });
    assert.deepEqual(await c.get('/x'), {}, 'requests still flow with maxSockets 1 and an open watch');
    ac.abort();
    await done;
    assert.deepEqual(got, ['ADDED']);
    const pre = new AbortController();
    pre.abort();
    await c.watch('/watch', () => assert.fail('no events after abort'), pre.signal);
  } finally {
    c.close();
    await srv.close();
  }
});
